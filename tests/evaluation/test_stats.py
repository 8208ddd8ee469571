"""Paired statistics against values known in closed form."""

import numpy as np
import pytest

from dskd.evaluation.stats import bootstrap_mean_ci, holm_adjust, paired_comparison, wilcoxon_p


def test_wilcoxon_exact_p_values():
    # All five differences positive: W- = 0, P(W- <= 0) = 1/32 under the null, two-sided 2/32.
    assert wilcoxon_p(np.array([1.0, 2, 3, 4, 5])) == pytest.approx(2 / 32)
    # One negative of rank 2: W- = 2; subsets of ranks 1..5 summing to <= 2: {}, {1}, {2}.
    assert wilcoxon_p(np.array([1.0, -2, 3, 4, 5])) == pytest.approx(6 / 32)
    assert wilcoxon_p(np.zeros(6)) == 1.0
    assert np.isnan(wilcoxon_p(np.array([])))


def test_bootstrap_of_constant_differences_is_a_point():
    assert bootstrap_mean_ci(np.full(10, 0.25)) == pytest.approx((0.25, 0.25))


def test_bootstrap_matches_the_normal_interval_on_a_large_sample():
    rng = np.random.default_rng(5)
    sample = rng.normal(0.1, 1.0, size=400)
    low, high = bootstrap_mean_ci(sample, n_resamples=4000, seed=1)
    half = 1.96 * sample.std(ddof=1) / np.sqrt(sample.size)
    assert low == pytest.approx(sample.mean() - half, abs=0.2 * half)
    assert high == pytest.approx(sample.mean() + half, abs=0.2 * half)
    assert bootstrap_mean_ci(sample, n_resamples=4000, seed=1) == (low, high)  # seeded
    assert bootstrap_mean_ci(sample, n_resamples=4000, seed=2) != (low, high)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_ci(sample, confidence=95)


def test_paired_comparison_drops_undefined_pairs_and_counts_wins():
    a = np.array([0.5, 0.6, 0.7, np.nan])
    b = np.array([0.6, 0.6, 0.9, 0.1])
    result = paired_comparison(a, b)
    assert result.n == 3
    assert result.mean_difference == pytest.approx(0.1)
    assert result.median_difference == pytest.approx(0.1)
    assert (result.b_better, result.a_better) == (2, 0)
    assert result.ci_low <= result.mean_difference <= result.ci_high
    lower_better = paired_comparison(a, b, higher_is_better=False)
    assert (lower_better.b_better, lower_better.a_better) == (0, 2)
    with pytest.raises(ValueError, match="one length"):
        paired_comparison(a, b[:2])


def test_holm_adjustment():
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm_adjust([0.5, float("nan"), 0.2])
    assert adjusted[0] == pytest.approx(0.5) and np.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.4)
