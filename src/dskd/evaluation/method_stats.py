"""Seed-aware intervals for a difference between two *training procedures* (methods).

The image bootstrap of dskd.evaluation.stats answers "on these images, with these trained
weights". A claim about a method must also count what retraining changes: each training run
(a fold model, a seed) carries its own offset, shared by every image it scores, and the image
bootstrap treats those offsets as fixed. On this project's own seed replicates that made the same
method differ "significantly" from itself in 3 of 10 comparisons.

Two designs, one model. A per-image figure y = image effect + method-by-image effect + run
offset + residual; run offsets are independent between runs (variance sigma_run^2).

- **Cross-validated grids** (`fold_clustered_difference`): every image is scored by the models of
  its own fold only, so images of one fold share their runs' offsets and folds are independent.
  The fold is the unit of replication: the mean of the per-image differences d_i, with the
  cluster-robust (CR1) standard error over the G folds and a t quantile on G - 1 degrees of freedom.
  With equal folds this is the one-sample t interval of the fold means, exact under normality;
  with five folds the variance rests on 4 degrees of freedom, so one interval's width is itself
  noisy (it can come out narrower than the image bootstrap's) while the t quantile keeps its
  coverage at 95% (a floor at the image part was tried: 98.8-99.3% coverage, too wide). It
  needs no seed replicates (the folds already are independent trainings), and replicates
  shrink it by averaging each fold's offsets.
- **Seed replicates on one image set** (`replicated_difference`, e.g. a test split scored by S_A
  and S_B independently trained models): D = mean over seeds of B's per-seed means minus A's;
  its variance is the seed part s_A^2 / S_A + s_B^2 / S_B (the variance of the per-seed means)
  plus the image part var(d_i) / N (d_i: per-image difference of the seed means) less the
  seed x image residual that the seed part already holds (its two-way ANOVA mean square), degrees
  of freedom by Welch-Satterthwaite. With one seed on a side its seed variance is taken to be
  the other side's (stated in the result); with one on each side there is nothing to estimate it
  from and the comparison is refused.

Why not a two-level bootstrap: with the 2-5 folds or seeds a grid has, a bootstrap over them
underestimates their variance by a factor (G - 1) / G and its percentiles are coarse; the t
intervals above carry the small number of units in their degrees of freedom. Their coverage is
checked by simulation in benchmarks/seed_interval_calibration.py (results in
benchmarks/results/seed-interval-calibration.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["MethodDifference", "fold_clustered_difference", "replicated_difference"]


@dataclass(frozen=True)
class MethodDifference:
    mean_difference: float  # B - A
    ci_low: float
    ci_high: float
    p_value: float  # two-sided t test of no difference
    standard_error: float
    degrees_of_freedom: float
    n_images: int
    n_units: int  # folds (grids) or seed replicates of the rarer side (compare)
    unit: str  # what was treated as the independent unit, in words

    def to_dict(self) -> dict:
        return asdict(self)


_UNDEFINED = dict(mean_difference=math.nan, ci_low=math.nan, ci_high=math.nan, p_value=math.nan,
                  standard_error=math.nan, degrees_of_freedom=math.nan)


def _t_interval(mean: float, se: float, df: float, confidence: float) -> tuple[float, float, float]:
    """(low, high, two-sided p of mean = 0) of a t statistic with `df` degrees of freedom."""
    from scipy.stats import t as student_t  # here: scipy.stats takes seconds to import

    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}; expected a value between 0 and 1")
    if se == 0:
        return mean, mean, (1.0 if mean == 0 else 0.0)
    half = float(student_t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * student_t.sf(abs(mean) / se, df))
    return mean - half, mean + half, p


def fold_clustered_difference(differences: np.ndarray, folds: np.ndarray, *,
                              confidence: float = 0.95) -> MethodDifference:
    """Mean of (N,) per-image differences B - A with a t interval that treats folds as the unit.

    differences: (N,) each image's B - A (each side averaged over its seeds first); NaN left out.
    folds: (N,) the fold whose models scored each image. Fewer than two folds: NaN interval.
    """
    differences = np.asarray(differences, dtype=np.float64)
    folds = np.asarray(folds)
    if differences.shape != folds.shape or differences.ndim != 1:
        raise ValueError(f"expected two (N,) arrays, got {differences.shape} and {folds.shape}")
    defined = ~np.isnan(differences)
    differences, folds = differences[defined], folds[defined]
    groups = np.unique(folds)
    n, g = differences.size, groups.size
    unit = "fold (cluster-robust t over folds)"
    if g < 2:
        mean = float(differences.mean()) if n else math.nan
        return MethodDifference(**{**_UNDEFINED, "mean_difference": mean}, n_images=n, n_units=g,
                                unit=unit)
    mean = float(differences.mean())
    residual_sums = np.array([np.sum(differences[folds == f] - mean) for f in groups])
    variance = g / (g - 1) * float(np.sum(residual_sums ** 2)) / n ** 2
    se = math.sqrt(variance)
    low, high, p = _t_interval(mean, se, g - 1, confidence)
    return MethodDifference(mean, low, high, p, se, float(g - 1), n, g, unit)


def replicated_difference(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95) -> MethodDifference:
    """B - A for seed replicates scored on one image set: a (S_A, N), b (S_B, N), rows = seeds.

    Images with a NaN in any replicate are left out. Raises ValueError with one seed per side.
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected (S_A, N) and (S_B, N) arrays, got {a.shape} and {b.shape}")
    s_a, s_b = a.shape[0], b.shape[0]
    if s_a < 2 and s_b < 2:
        raise ValueError("a seed-aware interval needs at least two seed replicates of one method")
    defined = ~(np.isnan(a).any(axis=0) | np.isnan(b).any(axis=0))
    a, b = a[:, defined], b[:, defined]
    n = a.shape[1]
    if n < 2:
        return MethodDifference(**_UNDEFINED, n_images=n, n_units=min(s_a, s_b), unit="seed")
    seed_means_a, seed_means_b = a.mean(axis=1), b.mean(axis=1)
    var_a = float(np.var(seed_means_a, ddof=1)) if s_a > 1 else math.nan
    var_b = float(np.var(seed_means_b, ddof=1)) if s_b > 1 else math.nan
    unit = "seed replicates and images (Welch-Satterthwaite t)"
    if s_a == 1:
        var_a, unit = var_b, unit + f"; A has one seed, its seed variance taken as B's ({s_b} seeds)"
    if s_b == 1:
        var_b, unit = var_a, unit + f"; B has one seed, its seed variance taken as A's ({s_a} seeds)"
    # The residual (seed x image) noise sits in both the seed means and the per-image
    # differences; its estimate is taken off the image part once, so it is counted once.
    residual = _pooled_residual_variance([x for x in (a, b) if x.shape[0] > 1])
    per_image = b.mean(axis=0) - a.mean(axis=0)
    image_part = max(float(np.var(per_image, ddof=1)) - residual * (1 / s_a + 1 / s_b), 0.0) / n
    parts = np.array([var_a / s_a, var_b / s_b, image_part])
    dfs = np.array([max(s_a, s_b) - 1 if s_a == 1 else s_a - 1,
                    max(s_a, s_b) - 1 if s_b == 1 else s_b - 1, n - 1], dtype=np.float64)
    variance = float(parts.sum())
    df = variance ** 2 / float(np.sum(parts ** 2 / dfs)) if variance > 0 else float(dfs.sum())
    mean = float(seed_means_b.mean() - seed_means_a.mean())
    se = math.sqrt(variance)
    low, high, p = _t_interval(mean, se, df, confidence)
    return MethodDifference(mean, low, high, p, se, df, n, min(s_a, s_b), unit)


def _pooled_residual_variance(replicates: list[np.ndarray]) -> float:
    """Seed x image residual variance of two-way (seed, image) tables (S, N), pooled over tables."""
    sums, dfs = 0.0, 0
    for y in replicates:
        s, n = y.shape
        fitted = y.mean(axis=1, keepdims=True) + y.mean(axis=0, keepdims=True) - y.mean()
        sums += float(np.sum((y - fitted) ** 2))
        dfs += (s - 1) * (n - 1)
    return sums / dfs if dfs else 0.0
