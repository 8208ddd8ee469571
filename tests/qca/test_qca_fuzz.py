"""QCA on whatever mask it is given: figures that make sense, or a one-line DataError; never a
crash. Random masks (blobs, lines, noise, empty, full) with and without probability maps."""

import numpy as np
import pytest

from dskd.errors import DataError
from dskd.qca import analyse_frame

hypothesis = pytest.importorskip("hypothesis", reason="pip install -e '.[test]' (hypothesis)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@st.composite
def masks_and_maps(draw):
    shape = draw(st.tuples(st.integers(1, 48), st.integers(1, 48)))
    smooth = draw(st.sampled_from([0.0, 1.0, 2.5]))  # noise, or blobs and tubes of some width
    values = draw(arrays(np.float64, shape, elements=st.floats(0, 1, allow_nan=False)))
    if smooth:
        from scipy.ndimage import gaussian_filter

        values = gaussian_filter(values, smooth)
    level = draw(st.floats(0, 1))
    mask = values >= np.quantile(values, level) if values.size else values.astype(bool)
    probability = np.clip(values, 0, 1).astype(np.float32) if draw(st.booleans()) else None
    return mask, probability


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks_and_maps())
def test_qca_reads_any_mask_or_refuses_it_in_one_line(case):
    mask, probability = case
    try:
        result = analyse_frame(mask, probability=probability, min_stenosis=0.0)
    except DataError as error:
        assert "\n" not in str(error) and "too fragmented" in str(error)
        return
    for lesion in result.lesions:
        assert 0.0 <= lesion.percent_diameter_stenosis <= 100.0
        assert 0.0 <= lesion.mld_px <= lesion.reference_px
        assert 0.0 <= lesion.length_px <= result.segments[lesion.segment].length_px + 1
    for segment in result.segments:
        assert len(segment.points) >= 1 and segment.length_px >= 0.0
