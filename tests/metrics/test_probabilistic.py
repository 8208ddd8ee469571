"""AUC-ROC and average precision: hand values, ties, and parity with MONAI."""

import numpy as np
import pytest
import torch

from dskd.metrics import average_precision, precision_recall_curve, roc_auc


def test_hand_computed_example():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1], bool)
    # pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 -> 3/4
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    # ranked: 0.8 (P=1, R=.5), 0.4 (P=.5), 0.35 (P=2/3, R=1) -> .5*1 + .5*2/3
    assert average_precision(scores, labels) == pytest.approx(0.5 + 1 / 3)


def test_ties_and_undefined_cases():
    labels = np.array([0, 1, 0, 1], bool)
    assert roc_auc(np.full(4, 0.3), labels) == 0.5
    assert average_precision(np.full(4, 0.3), labels) == 0.5
    assert np.isnan(roc_auc(np.ones(3), np.zeros(3, bool)))
    assert np.isnan(average_precision(np.ones(3), np.zeros(3, bool)))
    with pytest.raises(ValueError, match="shape"):
        roc_auc(np.ones(3), np.ones(4, bool))


def test_matches_monai_on_random_pixels():
    from monai.metrics import compute_average_precision, compute_roc_auc

    rng = np.random.default_rng(1)
    labels = rng.random(2000) < 0.1
    scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1).round(2)  # rounding makes ties
    expected_auc = compute_roc_auc(torch.from_numpy(scores), torch.from_numpy(labels.astype(np.int64)))
    expected_ap = compute_average_precision(torch.from_numpy(scores),
                                            torch.from_numpy(labels.astype(np.int64)))
    assert roc_auc(scores, labels) == pytest.approx(expected_auc, abs=1e-9)
    assert average_precision(scores, labels) == pytest.approx(expected_ap, abs=1e-9)


def test_pr_curve_is_thinned_and_ends_at_full_recall():
    rng = np.random.default_rng(2)
    labels = rng.random(5000) < 0.2
    scores = rng.random(5000)
    curve = precision_recall_curve(scores, labels, max_points=50)
    assert 2 <= curve["recall"].size <= 50
    assert curve["recall"][-1] == 1.0 and curve["precision"][-1] == pytest.approx(labels.mean())
    assert np.all(np.diff(curve["threshold"]) < 0) and np.all(np.diff(curve["recall"]) >= 0)
