"""Topology figures on masks small enough to check by hand."""

import numpy as np
import pytest
from skimage.measure import euler_number

from dskd.metrics import betti_numbers, cldice_from_counts, skeleton_counts, topology_metrics


def _line() -> np.ndarray:
    mask = np.zeros((9, 30), bool)
    mask[4, 5:25] = True  # a 1-px vessel of 20 px: its own skeleton
    return mask


def _ring() -> np.ndarray:
    mask = np.zeros((12, 12), bool)
    mask[1, 1:11] = mask[10, 1:11] = mask[1:11, 1] = mask[1:11, 10] = True  # one loop
    return mask


def test_broken_line_adds_a_component_and_loses_centreline():
    truth = _line()
    pred = truth.copy()
    pred[4, 14:16] = False  # a 2-px break
    m = topology_metrics(pred, truth)
    assert (m["betti_0_pred"], m["betti_0_label"]) == (2, 1)
    assert m["betti_0_error"] == 1 and m["betti_1_error"] == 0 and m["component_ratio"] == 2
    # Tprec = 18/18, Tsens = 18/20 -> clDice = 2 * 0.9 / 1.9
    assert m["cldice"] == pytest.approx(2 * 0.9 / 1.9)


def test_broken_loop_loses_its_hole():
    truth = _ring()
    pred = truth.copy()
    pred[1, 5] = False  # cut one side: the inside leaks out
    m = topology_metrics(pred, truth)
    assert (m["betti_1_pred"], m["betti_1_label"]) == (0, 1)
    assert m["betti_1_error"] == 1 and m["betti_0_error"] == 0


def test_connectivity_is_an_argument_that_matters():
    ring = _ring()
    cut_corner = ring.copy()
    cut_corner[1, 1] = False  # diagonal neighbours still touch across the missing corner
    assert betti_numbers(ring, connectivity=8) == (1, 1)
    assert betti_numbers(ring, connectivity=4) == (1, 1)
    assert betti_numbers(cut_corner, connectivity=8) == (1, 1)
    assert betti_numbers(cut_corner, connectivity=4) == (1, 0)  # the hole leaks through the corner
    diagonal = np.eye(5, dtype=bool)
    assert betti_numbers(diagonal, connectivity=8)[0] == 1
    assert betti_numbers(diagonal, connectivity=4)[0] == 5
    with pytest.raises(ValueError, match="valid: 4, 8"):
        betti_numbers(ring, connectivity=6)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_betti_numbers_satisfy_euler_formula(connectivity):
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((24, 24)) < 0.45
        b0, b1 = betti_numbers(mask, connectivity=connectivity)
        assert b0 - b1 == euler_number(mask, connectivity=1 if connectivity == 4 else 2)


def test_empty_prediction_and_empty_label():
    truth, empty = _line(), np.zeros((9, 30), bool)
    missed = topology_metrics(empty, truth)
    assert missed["cldice"] == 0 and missed["betti_0_error"] == 1 and missed["component_ratio"] == 0
    false_alarm = topology_metrics(truth, empty)
    assert false_alarm["cldice"] == 0 and np.isnan(false_alarm["component_ratio"])
    both = topology_metrics(empty, empty)
    assert both["cldice"] == 1 and both["betti_0_error"] == 0
    assert np.isnan(topology_metrics(empty, empty, zero_division=float("nan"))["cldice"])


def test_cldice_rewards_centreline_over_width():
    # A prediction twice too thick loses Dice but keeps full centreline agreement.
    truth = np.zeros((20, 40), bool)
    truth[9:12, 5:35] = True
    fat = np.zeros_like(truth)
    fat[7:14, 3:37] = True
    counts = skeleton_counts(fat, truth)
    assert counts[2] == counts[3]  # the label's centreline lies inside the prediction: Tsens = 1
    assert cldice_from_counts(counts) > 0.8
    dice = 2 * np.sum(fat & truth) / (fat.sum() + truth.sum())
    assert dice < 0.6


def test_pooled_counts_are_sums():
    a, b = _line(), _ring()
    pad = np.zeros((12, 30), bool)
    pad[:9] = a
    both = np.concatenate([skeleton_counts(pad, pad)[None], skeleton_counts(b, b)[None]]).sum(0)
    assert cldice_from_counts(both) == 1.0
