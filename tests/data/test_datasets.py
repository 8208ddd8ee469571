import pickle

import pytest
import torch

from dskd.config import AugmentConfig
from dskd.data.cases import Case
from dskd.data.datasets import EpochSampler, LazyCases, TrainCrops, load_cases
from dskd.data.readers import read_cases
from dskd.errors import DataError


def _crops(cases, **kwargs) -> TrainCrops:
    return TrainCrops(cases, crop_size=32, samples_per_epoch=12, foreground_prob=0.5,
                      augment=AugmentConfig(), seed=5, **kwargs)


def test_lazy_crops_equal_cached_crops(tiny_dataset):
    cases = read_cases("folder", tiny_dataset)
    cached, lazy = _crops(load_cases(cases, cache=True)), _crops(load_cases(cases, cache=False))
    assert lazy.lazy and not cached.lazy
    for epoch in (0, 3):
        cached.set_epoch(epoch)
        lazy.set_epoch(epoch)
        for index in range(len(cached)):
            (a_image, a_mask), (b_image, b_mask) = cached[index], lazy[index]
            assert torch.equal(a_image, b_image) and torch.equal(a_mask, b_mask)


def test_lazy_dataset_holds_paths_not_pixels(tiny_dataset):
    # What a data-loader worker receives: small, whatever the size of the images.
    cases = read_cases("folder", tiny_dataset)
    lazy, cached = _crops(load_cases(cases, cache=False)), _crops(load_cases(cases, cache=True))
    assert len(pickle.dumps(lazy)) < 10_000 < len(pickle.dumps(cached))
    assert isinstance(load_cases(cases, cache=False)[2:4], LazyCases)
    assert load_cases(cases, cache=False)[1].image.shape == (64, 64)


def test_lazy_dataset_rejects_unlabelled_images_without_reading_them(tmp_path):
    unlabelled = [Case("a", tmp_path / "missing.png", None)]
    with pytest.raises(DataError, match="case 'a' has no mask"):
        _crops(LazyCases(unlabelled))
    with pytest.raises(DataError, match="no training cases"):
        _crops(LazyCases([]))


def test_epoch_sampler_carries_the_epoch_with_each_index(tiny_dataset):
    crops = _crops(load_cases(read_cases("folder", tiny_dataset), cache=True))
    sampler = EpochSampler(range(3))
    sampler.set_epoch(4)
    assert list(sampler) == [(4, 0), (4, 1), (4, 2)] and len(sampler) == 3
    crops.set_epoch(4)
    assert torch.equal(crops[(4, 2)][0], crops[2][0])
    assert not torch.equal(crops[(5, 2)][0], crops[2][0])
