"""The protocol's pixel spacing: distances and widths in mm with it, in pixels without, and the
summary of the protocol says which."""

import json
import math

import numpy as np
import pytest

from dskd.metrics.distance import surface_distance_metrics
from dskd.metrics.suite import LENGTH_METRICS, METRICS, Protocol, score_image


def _lines(rows_a, rows_b, shape=(20, 20)):
    a, b = np.zeros(shape, bool), np.zeros(shape, bool)
    a[rows_a, 2:18] = True
    b[rows_b, 2:18] = True
    return a, b


def test_distances_scale_with_the_row_spacing():
    pred, truth = _lines(5, 8)  # two horizontal lines 3 rows apart
    assert surface_distance_metrics(pred, truth)["hd95"] == 3.0
    in_mm = surface_distance_metrics(pred, truth, spacing=(0.5, 2.0))
    assert in_mm["hd95"] == pytest.approx(1.5) and in_mm["assd"] == pytest.approx(1.5)


def test_diagonal_policy_in_millimetres():
    empty = np.zeros((30, 40), bool)
    truth = _lines(5, 5, shape=(30, 40))[1]
    assert surface_distance_metrics(empty, truth)["hd95"] == 50.0
    assert surface_distance_metrics(empty, truth, spacing=(0.1, 0.1))["hd95"] == pytest.approx(5.0)


def test_score_image_reports_lengths_and_their_units():
    pred, truth = _lines(slice(9, 12), 9)
    row_px = score_image(pred, truth)
    row_mm = score_image(pred, truth, protocol=Protocol(spacing_mm=(0.2, 0.2)))
    assert row_px["length_units"] == "px" and row_mm["length_units"] == "mm"
    assert row_px["width_median"] == 4.0 and row_px["width_median_label"] == 2.0
    assert row_mm["width_median"] == pytest.approx(0.8)
    assert row_mm["hd95"] == pytest.approx(0.2 * row_px["hd95"])
    assert set(LENGTH_METRICS) <= set(row_px) and all(k in METRICS for k in LENGTH_METRICS)
    empty = score_image(np.zeros_like(pred), truth)
    assert math.isnan(empty["width_median"]) and empty["width_median_label"] == 2.0


def test_protocol_records_the_spacing():
    assert Protocol().to_dict()["length_units"] == "px" and Protocol().to_dict()["spacing_mm"] is None
    recorded = json.loads(json.dumps(Protocol(spacing_mm=(0.3, 0.25)).to_dict()))
    assert recorded["spacing_mm"] == [0.3, 0.25] and recorded["length_units"] == "mm"
    with pytest.raises(ValueError, match="spacing_mm: spacing .* must be two positive"):
        Protocol(spacing_mm=(0.0, 1.0))
    assert "width_median" not in score_image(*_lines(5, 5), protocol=Protocol(groups=("overlap",)))
    assert "length_units" not in score_image(*_lines(5, 5), protocol=Protocol(groups=("overlap",)))


def test_better_direction_says_which_way_in_words():
    from dskd.metrics.suite import better_direction

    assert better_direction("dice") == "higher" and better_direction("hd95") == "lower"
    assert better_direction("component_ratio") == "closer to 1"
    assert better_direction("width_median") == "–" and better_direction("diameter_error") == "–"
