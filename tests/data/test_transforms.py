import numpy as np

from dskd.config import AugmentConfig
from dskd.data.transforms import augment_crop, pad_to_multiple, sample_crop, standardize


def test_geometry_is_shared_by_image_and_mask():
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 30:34] = True
    image = mask.astype(np.float32)
    geometric_only = AugmentConfig(brightness=0, contrast=0, gamma=0, affine_prob=1.0)
    for _ in range(10):
        img, msk = sample_crop(rng, image, mask, np.argwhere(mask), crop=32, foreground_prob=1.0,
                               augment=geometric_only)
        img, msk = augment_crop(rng, img, msk, geometric_only)
        assert img.shape == msk.shape == (32, 32)
        assert np.mean((img > 0.5) == msk) > 0.98


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
