import numpy as np

from dskd.config import AugmentConfig
from dskd.data.transforms import (
    CropPlacement,
    apply_placement,
    augment_intensity,
    pad_to_multiple,
    sample_crop,
    standardize,
)


def test_geometry_is_shared_by_image_and_mask():
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 30:34] = True
    image = mask.astype(np.float32)
    geometric_only = AugmentConfig(brightness=0, contrast=0, gamma=0, affine_prob=1.0)
    for _ in range(10):
        img, msk, placement = sample_crop(rng, image, mask, np.argwhere(mask), crop=32,
                                          foreground_prob=1.0, augment=geometric_only)
        assert img.shape == msk.shape == (32, 32)
        assert np.mean((img > 0.5) == msk) > 0.98
        np.testing.assert_array_equal(apply_placement(image, placement, 32), img)


def test_foreground_crops_contain_vessel():
    rng = np.random.default_rng(1)
    mask = np.zeros((200, 200), bool)
    mask[150:152, 10:190] = True
    hits = [sample_crop(rng, mask.astype(np.float32), mask, np.argwhere(mask), crop=32,
                        foreground_prob=1.0, augment=AugmentConfig(affine_prob=0))[1].any()
            for _ in range(20)]
    assert all(hits)


def test_standardize_and_pad():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    z = standardize(image)
    assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-5
    assert pad_to_multiple(image, 4).shape == (4, 4)
    assert pad_to_multiple(image, 2, minimum=8).shape == (8, 8)


def test_placement_round_trips_through_its_vector():
    placement = CropPlacement(np.array([[0.9, -0.1], [0.1, 0.9]]), np.array([3.5, -2.0]),
                              flip_lr=True, flip_ud=False, turns=3)
    again = CropPlacement.from_vector(placement.to_vector())
    np.testing.assert_array_equal(again.matrix, placement.matrix)
    np.testing.assert_array_equal(again.offset, placement.offset)
    assert (again.flip_lr, again.flip_ud, again.turns) == (True, False, 3)


def test_quarter_turns_and_flips_follow_numpy():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    identity = dict(matrix=np.eye(2), offset=np.zeros(2))
    turned = apply_placement(image, CropPlacement(**identity, flip_lr=True, flip_ud=False, turns=1), 4)
    np.testing.assert_array_equal(turned, np.rot90(image[:, ::-1], 1))


def test_intensity_augmentation_leaves_a_disabled_config_alone():
    image = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    off = AugmentConfig(brightness=0, contrast=0, gamma=0, noise_std=0)
    np.testing.assert_array_equal(augment_intensity(np.random.default_rng(0), image, off), image)
