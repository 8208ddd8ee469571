"""QCA on phantoms with analytic answers: graph, sub-pixel diameters, lesions, calibration."""

import math

import numpy as np
import pytest

from dskd.data.synthetic.phantoms import arc, lesion_length, narrowing, render, straight
from dskd.errors import DataError
from dskd.qca import PIXELS, analyse_frame, from_catheter, from_user, measure_width_at
from dskd.qca.graph import vessel_graph
from dskd.qca.profile import diameter_profile


def test_a_y_branch_is_a_vessel_and_its_branch_and_a_spur_is_pruned():
    phantom = render((128, 128), [straight((64, 5), (64, 122), 3.0), straight((64, 64), (10, 100), 2.0)])
    pieces = vessel_graph(phantom.mask, through_junctions=False)
    assert sorted(s.kind for s in pieces) == ["junction-end"] * 3  # the skeleton's three branches
    segments = vessel_graph(phantom.mask)  # the straight vessel is followed through the junction
    assert sorted(s.kind for s in segments) == ["end-end", "junction-end"]
    vessel = next(s for s in segments if s.kind == "end-end")
    assert vessel.length_px > 110 and np.ptp(vessel.points[:, 0]) < 4
    bumped = phantom.mask.copy()
    bumped[58:61, 30] = True  # a 3-pixel bump on the edge of the horizontal vessel
    assert len(vessel_graph(bumped)) == 2


@pytest.mark.parametrize("diameter", [3.0, 5.5, 9.0])
def test_probability_map_diameters_are_sub_pixel(diameter):
    tube = straight((20, 10), (90, 118), diameter / 2)
    phantom = render((128, 128), [tube])
    [segment] = vessel_graph(phantom.mask)
    profile = diameter_profile(segment.points, phantom.probability, method="probability")
    middle = profile.diameter[len(profile.diameter) // 4: -len(profile.diameter) // 4]
    assert np.nanmean(np.abs(middle - diameter)) < 0.15
    # The binary mask quantises each edge to a pixel boundary: within about a pixel.
    from_mask = diameter_profile(segment.points, phantom.mask, method="mask")
    assert np.nanmean(np.abs(from_mask.diameter[len(middle) // 2: -len(middle) // 2] - diameter)) < 1.0


def test_a_known_stenosis_on_a_tapering_curved_vessel():
    tube = arc((150, 20), 120, -1.2, -0.2, 4.0)
    tube.radius = np.linspace(4.5, 3.5, len(tube.radius))  # tapers along its length
    tube = narrowing(tube, 0.5, 60.0, 28.0)
    phantom = render((160, 160), [tube])
    result = analyse_frame(phantom.mask, probability=phantom.probability, min_stenosis=30)
    [lesion] = result.lesions
    truth = tube.lesions[0]
    assert lesion.percent_diameter_stenosis == pytest.approx(60.0, abs=3.0)
    assert lesion.reference_px == pytest.approx(truth.reference_px, abs=0.3)  # the taper is followed
    assert lesion.length_px == pytest.approx(lesion_length(28.0, 60.0), abs=2.0)
    assert math.hypot(lesion.row - truth.row, lesion.col - truth.col) < 3
    assert result.method == "probability" and result.calibration is PIXELS


def test_a_healthy_tapering_vessel_has_no_lesion():
    phantom = render((128, 128), [straight((10, 10), (118, 118), (5.0, 2.5))])
    assert analyse_frame(phantom.mask, probability=phantom.probability, min_stenosis=20).lesions == []


def test_a_lesion_that_breaks_the_mask_is_bridged_and_found():
    tube = narrowing(straight((64.5, 5), (64.5, 122), 2.0), 0.5, 90.0, 12.0)  # MLD 0.4 px: the mask breaks
    phantom = render((128, 128), [tube])
    assert len(vessel_graph(phantom.mask, gap_factor=0)) == 2
    [segment] = vessel_graph(phantom.mask)
    assert segment.bridged == 1
    [lesion] = analyse_frame(phantom.mask).lesions
    assert lesion.percent_diameter_stenosis > 80


def test_calibration_is_stated_and_implausible_values_refused():
    assert from_user(0.25).source == "user: 0.25 mm/px" and from_user(0.25).size(4) == 1.0
    assert PIXELS.unit == "px" and PIXELS.size(4) == 4
    with pytest.raises(DataError, match="not a plausible calibration"):
        from_user(0)
    catheter = render((96, 96), [straight((48, 5), (48, 90), 3.0)])  # 6 px wide
    width = measure_width_at(catheter.mask, (47, 40), probability=catheter.probability)
    assert width == pytest.approx(6.0, abs=0.1)
    calibration = from_catheter(width, 6, (47, 40))  # 6 F = 2 mm over 6 px
    assert calibration.mm_per_px == pytest.approx(1 / 3, rel=0.02) and "catheter 6 F" in calibration.source
    with pytest.raises(DataError, match="measured nan px wide"):
        from_catheter(measure_width_at(catheter.mask, (5, 5)), 6, (5, 5))


def test_diameter_agreement_sees_a_one_pixel_dilation():
    from scipy.ndimage import binary_dilation

    from dskd.qca.agreement import diameter_agreement

    label = render((128, 128), [straight((30, 10), (100, 118), 3.0)]).mask
    assert diameter_agreement(label, label) == {"diameter_error_abs": 0.0, "diameter_error": 0.0}
    wider = binary_dilation(label)  # one pixel more on each side, 4-connected
    figures = diameter_agreement(wider, label, mm_per_px=0.5)
    assert figures["diameter_error"] > 0 and figures["diameter_error"] == figures["diameter_error_abs"]
    assert 0.5 <= figures["diameter_error"] <= 1.5  # about 2 px at 0.5 mm each


def test_a_lesion_is_never_longer_than_its_segment():
    from dskd.data.synthetic.lesions import synth_angiogram_with_lesions

    for k in (7, 12, 30):  # images where the shoulder crossing once ran far past the segment
        _, mask, _ = synth_angiogram_with_lesions(np.random.default_rng([7, k]), 300)
        result = analyse_frame(mask, min_stenosis=15)
        for lesion in result.lesions:
            assert 0 <= lesion.length_px <= result.segments[lesion.segment].length_px + 1


def test_max_branches_lies_far_above_a_vessel_tree_and_below_noise():
    from pathlib import Path

    from PIL import Image
    from skimage.morphology import skeletonize

    from dskd.data.synthetic import synth_case
    from dskd.qca.graph import MAX_BRANCHES, _degrees, _paths

    def branches(mask: np.ndarray) -> int:
        skeleton = skeletonize(mask.astype(bool))
        return len(_paths(skeleton, _degrees(skeleton))[0])

    trees = [branches(synth_case(k, k, size=512)[1]) for k in range(5)]
    assert max(trees) <= 56  # the figure graph.MAX_BRANCHES quotes
    assert branches(np.random.default_rng(0).random((64, 64)) > 0.5) > 700
    assert max(trees) * 10 < MAX_BRANCHES
    cimat = Path(__file__).resolve().parents[3] / "shared" / "data" / "cimat-angiograms" / "training"
    if cimat.is_dir():  # CIMAT's expert masks, where the data is at hand
        experts = [branches(np.array(Image.open(f)) > 127) for f in sorted(cimat.glob("*_gt.png"))]
        assert len(experts) == 40 and max(experts) <= 32
