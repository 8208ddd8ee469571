"""Paired statistics of two methods scored on the same images.

For each metric: the per-image difference d_i = b_i - a_i, its mean with a percentile bootstrap
95% confidence interval (seeded numpy resampling of the images), and the two-sided Wilcoxon
signed-rank p-value (scipy.stats.wilcoxon). Images where either value is NaN are left out, and
the number of pairs used is reported. Holm's step-down adjustment across the metrics of one
comparison is given as well, since several metrics are tested at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["PairedResult", "paired_comparison", "bootstrap_mean_ci", "wilcoxon_p", "holm_adjust"]


@dataclass(frozen=True)
class PairedResult:
    n: int  # pairs with both values defined
    mean_a: float
    mean_b: float
    mean_difference: float  # mean of b - a
    median_difference: float
    ci_low: float  # bootstrap confidence interval of the mean difference
    ci_high: float
    p_value: float  # two-sided Wilcoxon signed-rank test of b - a
    b_better: int  # images where b beats a (by the metric's direction; 0 when it has none)
    a_better: int

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_mean_ci(differences: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 10_000,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of (N,) differences; (nan, nan) when N = 0.

    The images are resampled with replacement n_resamples times from a numpy Generator seeded with
    `seed`, so the interval is reproducible. Resampled in chunks to bound memory for large N.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}; expected a value between 0 and 1")
    differences = np.asarray(differences, dtype=np.float64)
    n = differences.size
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        means[start:stop] = differences[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of (N,) paired differences.

    Zero differences are dropped (Wilcoxon's original treatment, scipy's zero_method="wilcox");
    scipy chooses the exact null distribution for small samples without ties. When every
    difference is zero the methods do not differ on these images: p = 1. NaN when N = 0.
    """
    from scipy.stats import wilcoxon  # here, not at the top: scipy.stats takes seconds to import

    differences = np.asarray(differences, dtype=np.float64)
    if differences.size == 0:
        return float("nan")
    if not np.any(differences != 0):
        return 1.0
    return float(wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparison(a: np.ndarray, b: np.ndarray, *, higher_is_better: bool | None = True,
                      confidence: float = 0.95, n_resamples: int = 10_000,
                      seed: int = 0) -> PairedResult:
    """Compare method B with method A on the same images.

    a, b: (N,) per-image values in the same image order; pairs with a NaN are left out.
    higher_is_better decides which side a per-image win counts for (None: no wins counted).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two (N,) arrays of one length, got {a.shape} and {b.shape}")
    defined = ~(np.isnan(a) | np.isnan(b))
    a, b = a[defined], b[defined]
    differences = b - a
    ci_low, ci_high = bootstrap_mean_ci(differences, confidence=confidence,
                                        n_resamples=n_resamples, seed=seed)
    sign = {True: 1, False: -1, None: 0}[higher_is_better]
    empty = differences.size == 0
    return PairedResult(
        n=int(differences.size),
        mean_a=float("nan") if empty else float(a.mean()),
        mean_b=float("nan") if empty else float(b.mean()),
        mean_difference=float("nan") if empty else float(differences.mean()),
        median_difference=float("nan") if empty else float(np.median(differences)),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=wilcoxon_p(differences),
        b_better=int(np.sum(sign * differences > 0)),
        a_better=int(np.sum(sign * differences < 0)),
    )


def format_p(value: float | None) -> str:
    """A p-value for a table: 4 decimals, scientific below 0.001, a dash when undefined."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.4f}"


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    defined = np.flatnonzero(~np.isnan(p))
    order = defined[np.argsort(p[defined], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))  # adjusted p never decreases
        adjusted[index] = running
    return adjusted.tolist()
