import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from dskd.data.synthetic import synth_angiogram


def test_deterministic_for_a_seed():
    a = synth_angiogram(np.random.default_rng([5, 1]), 128)
    b = synth_angiogram(np.random.default_rng([5, 1]), 128)
    c = synth_angiogram(np.random.default_rng([5, 2]), 128)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_looks_like_an_angiogram():
    fractions, max_widths, thin_share, contrasts, corners = [], [], [], [], []
    for k in range(6):
        image, mask = synth_angiogram(np.random.default_rng([0, k]), 300)
        assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 1
        fractions.append(mask.mean())
        width = 2 * ndimage.distance_transform_edt(mask)  # local diameter on the centreline
        skeleton = skeletonize(mask)
        max_widths.append(width[skeleton].max())
        thin_share.append(np.mean(width[skeleton] <= 2.5))
        inside = ndimage.binary_erosion(~mask, iterations=3) & (image > 0.2)
        contrasts.append(image[inside].mean() - image[mask].mean())
        corners.append(image[:8, :8].mean())
    assert 0.01 < np.mean(fractions) < 0.10  # vessels are a few percent of the image
    assert 5 <= np.mean(max_widths) <= 10  # thick proximal arteries ...
    assert np.mean(thin_share) > 0.3  # ... and many thin branches
    assert np.mean(contrasts) > 0.03  # vessels are darker than the background
    assert np.mean(corners) < 0.25  # dark outside the circular collimator


def test_mask_is_one_tree_mostly():
    _, mask = synth_angiogram(np.random.default_rng([0, 0]), 300)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    assert sizes.max() > 0.8 * mask.sum()  # branching tree, not scattered lines
