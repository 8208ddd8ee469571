"""Synthetic cines: the contrast curve peaks where it says, the tree moves, the files are written."""

import json

import numpy as np
import tifffile

from dskd.data.synthetic.cine import contrast_curve, synth_cine, write_synthetic_cines


def test_contrast_curve_is_zero_before_the_injection_and_one_at_its_peak():
    curve = contrast_curve(20, start=3.0, peak=8.0, shape=3.0)
    assert np.all(curve[:3] == 0) and curve[7] == 1.0 and np.argmax(curve) == 7
    assert np.all(np.diff(curve[3:8]) > 0) and np.all(np.diff(curve[8:]) < 0)  # wash-in, wash-out


def test_a_cine_is_darkest_in_the_vessels_at_its_peak_and_moves():
    cine = synth_cine(np.random.default_rng(3), n_frames=16, size=96)
    assert cine.frames.shape == (16, 96, 96) and cine.masks.shape == (16, 96, 96)
    peak = cine.peak_frame - 1
    first = int(np.argmax(cine.contrast > 0.05))
    # Inside the vessels the frame of peak contrast is darker than an early, unfilled one.
    inside = cine.masks[peak]
    assert cine.frames[peak][inside].mean() < cine.frames[max(first - 1, 0)][inside].mean() - 0.02
    assert not np.array_equal(cine.masks[0], cine.masks[4])  # the heart beats


def test_written_cines_carry_their_true_peak(tmp_path):
    out = write_synthetic_cines(tmp_path, n=2, n_frames=6, size=64, seed=1)
    truth = json.loads((out / "cines.json").read_text())
    assert set(truth) == {"case_0000", "case_0001"}
    frames = tifffile.imread(out / "cines" / "case_0000.tif")
    assert frames.shape == (6, 64, 64) and frames.dtype == np.uint16
    assert 1 <= truth["case_0000"]["peak_frame"] <= 6


def test_stenoses_of_a_cine_move_with_the_tree():
    from scipy import ndimage

    from dskd.data.synthetic.style import SynthStyle

    cine = synth_cine(np.random.default_rng(0), n_frames=12, size=256, style=SynthStyle(stenoses=2))
    assert len(cine.lesions) == 12 and cine.lesions[0]
    rows = [[lesion.row for lesion in frame] for frame in cine.lesions]
    assert np.ptp(np.array(rows), axis=0).max() > 1  # the lesions move...
    for frame, mask in zip(cine.lesions, cine.masks, strict=True):  # ...and stay on their vessel
        outside = ndimage.distance_transform_edt(~mask)
        assert all(outside[round(lesion.row), round(lesion.col)] <= 1.5 for lesion in frame)
        assert [lesion.percent_diameter_stenosis for lesion in frame] == [
            lesion.percent_diameter_stenosis for lesion in cine.lesions[0]]
