"""Vessel width: 2 x the distance transform at skeleton pixels, in pixels or millimetres."""

import math

import numpy as np
import pytest

from dskd.metrics.width import centreline_diameters, check_spacing, vessel_width


def _bar(width, length=24, shape=(20, 32)):
    mask = np.zeros(shape, bool)
    top = (shape[0] - width) // 2
    mask[top:top + width, 4:4 + length] = True
    return mask


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_bar_k_pixels_wide_measures_k_plus_1(k):
    # Skeleton on the middle row; the nearest background pixel centre is (k + 1) / 2 away.
    assert vessel_width(_bar(k)) == {"width_median": k + 1.0, "width_p95": k + 1.0}


def test_spacing_gives_millimetres_also_anisotropic():
    assert vessel_width(_bar(3), spacing=(0.25, 0.25))["width_median"] == pytest.approx(1.0)
    # Across a horizontal bar only the row spacing counts.
    assert vessel_width(_bar(3), spacing=(0.25, 3.0))["width_median"] == pytest.approx(1.0)


def test_p95_sees_the_widest_part():
    mask = _bar(1, length=20)
    mask[6:15, 20:24] = True  # a wide blob at one end of a thin vessel
    diameters = centreline_diameters(mask)
    assert vessel_width(mask)["width_median"] == 2.0
    assert vessel_width(mask)["width_p95"] == pytest.approx(np.percentile(diameters, 95))
    assert diameters.max() > 4


def test_vessel_at_the_border_has_an_edge_there():
    mask = np.zeros((10, 10), bool)
    mask[0, :] = True  # one pixel wide along the top edge
    assert vessel_width(mask)["width_median"] == 2.0


def test_empty_mask_has_no_width_and_bad_spacing_is_refused():
    assert all(math.isnan(v) for v in vessel_width(np.zeros((5, 5), bool)).values())
    for bad in [(0.0, 0.3), (0.3,), (float("nan"), 1.0), (-1.0, 1.0)]:
        with pytest.raises(ValueError, match="must be two positive millimetre values"):
            check_spacing(bad)
