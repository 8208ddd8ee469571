"""HD95 and ASSD: MONAI's values on masks with a known answer, and the empty-mask policy."""

import math

import numpy as np
import pytest

from dskd.metrics import surface_distance_metrics


def _two_lines(offset: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((20, 30), bool)
    b = np.zeros((20, 30), bool)
    a[5, 5:25] = True
    b[5 + offset, 5:25] = True
    return a, b


def test_parallel_lines_are_their_offset_apart():
    pred, truth = _two_lines(3)
    m = surface_distance_metrics(pred, truth)
    assert m["hd95"] == pytest.approx(3.0) and m["assd"] == pytest.approx(3.0)
    assert m["empty_mask"] == "none"
    same = surface_distance_metrics(truth, truth)
    assert same["hd95"] == 0 and same["assd"] == 0


def test_one_stray_pixel():
    truth = np.zeros((5, 5), bool)
    truth[2, 1:4] = True
    pred = truth.copy()
    pred[0, 0] = True  # sqrt(2^2 + 1^2) from the nearest label pixel
    m = surface_distance_metrics(pred, truth)
    assert m["assd"] == pytest.approx(math.sqrt(5) / 7)  # 7 edge pixels, one of them off by sqrt 5


@pytest.mark.parametrize("policy, expected", [("diagonal", math.hypot(20, 30)), ("nan", math.nan)])
def test_one_empty_mask_follows_the_policy(policy, expected):
    line, _ = _two_lines(0)
    empty = np.zeros_like(line)
    for pred, truth, which in ((empty, line, "prediction"), (line, empty, "label")):
        m = surface_distance_metrics(pred, truth, empty_policy=policy)
        assert m["empty_mask"] == which
        assert m["hd95"] == pytest.approx(expected, nan_ok=True)
        assert m["assd"] == pytest.approx(expected, nan_ok=True)


def test_both_empty_is_zero_and_bad_policy_is_refused():
    empty = np.zeros((4, 4), bool)
    assert surface_distance_metrics(empty, empty, empty_policy="nan") == {
        "hd95": 0.0, "assd": 0.0, "empty_mask": "both"}
    with pytest.raises(ValueError, match="valid: diagonal, nan"):
        surface_distance_metrics(empty, empty, empty_policy="inf")
