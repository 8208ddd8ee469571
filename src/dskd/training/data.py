"""The data of a run: training crops in batches, and the whole validation images."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, DistributedSampler

from dskd.config import Config, DataConfig
from dskd.data.cases import CaseArrays
from dskd.data.datasets import EpochSampler, TrainCrops, load_cases
from dskd.data.synthetic import SyntheticCrops, style_for, synth_case
from dskd.data.training_split import split_training_cases
from dskd.errors import DataError
from dskd.training.distributed import World
from dskd.training.step import collate_batch

__all__ = ["TrainingData", "training_data"]

log = logging.getLogger(__name__)


class TrainingData:
    """sampler: call set_epoch before each epoch; loader: Batches of crops; train_cases: the
    whole training images (a teacher may run on them); val_cases: the whole validation images."""

    def __init__(self, sampler: EpochSampler, loader: DataLoader,
                 train_cases: Sequence[CaseArrays], val_cases: Sequence[CaseArrays]) -> None:
        self.sampler, self.loader = sampler, loader
        self.train_cases, self.val_cases = train_cases, val_cases


def _train_loader(crops: TrainCrops | SyntheticCrops, data: DataConfig, device: torch.device,
                  world: World) -> tuple[EpochSampler, DataLoader]:
    """Batches of crops, and the sampler whose set_epoch starts each epoch. Under torchrun each
    process gets every world.size-th crop.

    Crop i of an epoch is the same random draw whatever process reads it, and the sampler deals
    indices round-robin, so the processes' shares of batch k together are exactly the single
    process's batch k: N processes train on the same global batches as one.
    """
    indices = (DistributedSampler(crops, num_replicas=world.size, rank=world.rank, shuffle=False,
                                  drop_last=True) if world.distributed else range(len(crops)))
    sampler = EpochSampler(indices)
    loader = DataLoader(crops, batch_size=data.batch_size // world.size, sampler=sampler,
                        drop_last=True, num_workers=data.num_workers, collate_fn=collate_batch,
                        persistent_workers=data.num_workers > 0, pin_memory=device.type == "cuda")
    return sampler, loader


def _synthetic_data(config: Config, device: torch.device, world: World) -> TrainingData:
    """data.source=synthetic: a stream of crops of new synthetic angiograms (seed run.seed) and
    synthetic.val_images whole validation images of seed run.seed + 1."""
    synthetic, seed = config.synthetic, config.run.seed
    style = style_for(synthetic.realism)
    crops = SyntheticCrops(crop_size=config.data.crop_size,
                           samples_per_epoch=config.data.samples_per_epoch,
                           foreground_prob=config.data.foreground_crop_prob, augment=config.augment,
                           seed=seed, size=synthetic.size, style=style)
    val_cases = [CaseArrays(f"synthetic_{seed + 1}_{k}", *synth_case(seed + 1, k, synthetic.size, style),
                            None) for k in range(synthetic.val_images)]
    log.info("training on synthetic angiograms (%s, %d px, a new image per crop), validating on %d, "
             "%d crops of %d px per epoch, %d process(es)", synthetic.realism, synthetic.size,
             len(val_cases), config.data.samples_per_epoch, config.data.crop_size, world.size)
    return TrainingData(*_train_loader(crops, config.data, device, world), [], val_cases)


def training_data(config: Config, device: torch.device, world: World) -> TrainingData:
    """Crops of the training split (in memory, or read from disk when needed: data.cache), and
    the validation images; with data.source=synthetic, generated ones."""
    if config.data.source == "synthetic":
        return _synthetic_data(config, device, world)
    train_cases, val_cases = split_training_cases(config.data, seed=config.run.seed)
    if any(c.mask is None for c in val_cases):
        raise DataError("validation cases need masks")
    # Every crop carries its placement (a few numbers), so any teacher policy can use it.
    # A network of model.input_scale s trains on images and masks s times larger; validation
    # images stay as they are, since prediction resamples (dskd.inference.probabilities).
    crops = TrainCrops(load_cases(train_cases, cache=config.data.cache,
                                  scale=config.model.input_scale),
                       crop_size=config.data.crop_size,
                       samples_per_epoch=config.data.samples_per_epoch,
                       foreground_prob=config.data.foreground_crop_prob, augment=config.augment,
                       seed=config.run.seed, with_placement=True)
    log.info("training on %d images%s, validating on %d, %d crops of %d px per epoch, "
             "%d process(es)", len(train_cases),
             f" upscaled {config.model.input_scale}x" if config.model.input_scale != 1 else "",
             len(val_cases), config.data.samples_per_epoch, config.data.crop_size, world.size)
    return TrainingData(*_train_loader(crops, config.data, device, world), crops.cases,
                        load_cases(val_cases, cache=config.data.cache))
