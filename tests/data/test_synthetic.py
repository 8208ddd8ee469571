import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.morphology import skeletonize

from dskd.data.io import read_image, read_mask
from dskd.data.synthetic import (
    RealBackgrounds,
    SyntheticCrops,
    fill_vessels,
    style_for,
    synth_angiogram,
    synth_case,
    write_synthetic_dataset,
)
from dskd.data.synthetic.render import render_tubes
from dskd.data.synthetic.trees import STEP, Vessel
from dskd.data.transforms import AugmentConfig


def test_deterministic_for_a_seed():
    a = synth_angiogram(np.random.default_rng([5, 1]), 128)
    b = synth_angiogram(np.random.default_rng([5, 1]), 128)
    c = synth_angiogram(np.random.default_rng([5, 2]), 128)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_looks_like_a_cimat_angiogram():
    """Loose bounds around CIMAT training statistics (benchmarks/results/angiogram-stats.md)."""
    fractions, medians, maxima, contrasts, corners = [], [], [], [], []
    for k in range(6):
        image, mask = synth_angiogram(np.random.default_rng([0, k]), 300)
        assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 1
        fractions.append(mask.mean())
        width = 2 * ndimage.distance_transform_edt(mask)  # local diameter on the centreline
        skeleton = skeletonize(mask)
        medians.append(np.median(width[skeleton]))
        maxima.append(width[skeleton].max())
        inside = ndimage.binary_erosion(~mask, iterations=3) & (image > 0.2)
        contrasts.append(image[inside].mean() - image[mask].mean())
        corners.append(min(image[a, b].mean() for a in (slice(0, 8), slice(-8, None))
                           for b in (slice(0, 8), slice(-8, None))))
    assert 0.01 < np.mean(fractions) < 0.10  # vessels are a few percent of the image
    assert 4 <= np.mean(medians) <= 7  # CIMAT: 5.4 px
    assert 8 <= np.mean(maxima) <= 15  # CIMAT: 13 px
    assert np.mean(contrasts) > 0.03  # vessels are darker than the background
    assert np.mean(corners) < 0.25  # dark outside the circular collimator (in a corner at least)


def test_main_artery_and_its_branches_are_one_tree():
    style = style_for("standard", crossing_prob=0.0)
    for k in range(3):
        _, mask = synth_angiogram(np.random.default_rng([0, k]), 300, style)
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())[1:]
        assert sizes.max() > 0.8 * mask.sum()  # a branching tree, not scattered lines


def test_a_straight_tube_by_hand():
    """Radius 1.2 along row 10 (every sample stamped): chord 2 sqrt(r^2 - d^2), so 2.4 on the
    centreline and 2 sqrt(0.44) one row off; mask rows 9-11 (|d| < 1.2), not 8 or 12."""
    xs = np.arange(4, 28, STEP)
    tube = Vessel(np.stack([np.full(len(xs), 10.0), xs], 1), np.full(len(xs), 1.2), np.ones(len(xs)))
    path, mask = render_tubes([tube], 32, min_mask_radius=0.5)
    assert path[10, 16] == pytest.approx(2.4)
    assert path[11, 16] == pytest.approx(2 * np.sqrt(0.44))
    assert path[12, 16] == 0.0
    assert mask[9:12, 16].all() and not mask[8, 16] and not mask[12, 16]
    crossing = Vessel(np.stack([xs, np.full(len(xs), 16.0)], 1), np.full(len(xs), 1.2), np.ones(len(xs)))
    both, _ = render_tubes([tube, crossing], 32, min_mask_radius=0.5)
    assert both[10, 16] == pytest.approx(4.8)  # path lengths of crossing tubes add


def test_unlabelled_tubes_darken_but_are_not_in_the_mask():
    xs = np.arange(4, 28, STEP)
    catheter = Vessel(np.stack([np.full(len(xs), 10.0), xs], 1), np.full(len(xs), 2.0),
                      np.ones(len(xs)), labelled=False)
    path, mask = render_tubes([catheter], 32)
    assert path[10, 16] > 0 and not mask.any()


def test_realism_levels():
    basic = synth_angiogram(np.random.default_rng([1, 0]), 128, style_for("basic"))
    full = synth_angiogram(np.random.default_rng([1, 0]), 128, style_for("full"))
    assert basic[0].shape == full[0].shape == (128, 128)
    with pytest.raises(ValueError, match="valid: basic, standard, full"):
        style_for("photoreal")


def test_fill_vessels_by_hand():
    image = np.full((20, 20), 0.6)
    mask = np.zeros((20, 20), bool)
    mask[8:12, :] = True
    image[mask] = 0.1
    filled = fill_vessels(image, mask, margin=1)
    assert np.allclose(filled, 0.6, atol=1e-6)  # a flat background is filled flat


def test_real_backgrounds_keep_texture_and_lose_vessels():
    image = np.random.default_rng(0).uniform(0.5, 0.6, (40, 40))
    mask = np.zeros((40, 40), bool)
    mask[18:22, :] = True
    image[mask] = 0.1
    backgrounds = RealBackgrounds([image], [mask])
    drawn = backgrounds.draw(np.random.default_rng(1), 40)
    assert drawn.shape == (40, 40) and drawn.min() > 0.4  # the dark vessel is gone
    composed, vessels = synth_angiogram(np.random.default_rng(2), 40,
                                        style_for("standard", real_background_prob=1.0),
                                        backgrounds=backgrounds)
    assert composed.shape == (40, 40) and vessels.dtype == bool


def test_files_and_stream_hold_the_same_images(tmp_path):
    root = write_synthetic_dataset(tmp_path / "s", n=2, size=64, seed=3, start=5, progress=False)
    image, mask = synth_case(3, 6, 64, style_for("standard"))
    assert np.abs(read_image(root / "images" / "case_0006.png") - image).max() <= 1 / 255
    assert np.array_equal(read_mask(root / "masks" / "case_0006.png"), mask)


def test_streamed_crops_have_the_train_crops_format_and_are_seeded():
    crops = SyntheticCrops(crop_size=32, samples_per_epoch=4, foreground_prob=1.0,
                           augment=AugmentConfig(), seed=7, size=64)
    image, mask = crops[(1, 2)]
    assert image.shape == mask.shape == (1, 32, 32)
    assert image.dtype == mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    again, _ = crops[(1, 2)]
    other, _ = crops[(2, 2)]  # a new epoch draws new images
    assert torch.equal(image, again) and not torch.equal(image, other)
    with pytest.raises(ValueError, match="larger than the synthetic image size"):
        SyntheticCrops(crop_size=128, samples_per_epoch=1, foreground_prob=0.5,
                       augment=AugmentConfig(), seed=0, size=64)


def _straight_vessel(row: float, radius: float) -> Vessel:
    cols = np.arange(20.0, 260.0, STEP)
    points = np.stack([np.full_like(cols, row), cols], axis=1)
    return Vessel(points, np.full(len(cols), radius), np.ones(len(cols)))


@pytest.mark.parametrize(("other_row", "overlapped"), [(106.0, True), (160.0, False)])
def test_a_stenosis_under_another_vessel_is_marked_overlapped(other_row, overlapped):
    from dskd.data.synthetic.lesions import add_stenoses

    # An artery of 8 px and a vessel of 4 px running beside it: lumens touching (6 px apart,
    # radii 4 + 2) along its whole length, or 60 px away.
    artery, other = _straight_vessel(100.0, 4.0), _straight_vessel(other_row, 2.0)
    narrowed, lesions = add_stenoses(np.random.default_rng(0), [artery, other], 1)
    assert len(lesions) == 1 and lesions[0].overlapped is overlapped
    assert lesions[0].to_dict()["overlapped"] is overlapped  # a flag, not a rounded number
    assert narrowed[1] is other and narrowed[0].radii.min() < 4.0
