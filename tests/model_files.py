"""Untrained checkpoints for inference tests: seeded weights, BatchNorm statistics and a steep,
centred head, so that probabilities spread over (0, 1) and masks are neither empty nor full
(an untouched untrained U-Net gives probabilities within 0.01 of each other)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from dskd.checkpoint import save_checkpoint
from dskd.config import Config, config_from_dict, config_to_dict
from dskd.data.datasets import image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.models import UNet, build_model


def _config(depth: int, width: int) -> Config:
    return config_from_dict({"model": {"depth": depth, "width": width},
                             "data": {"crop_size": 2**depth * 4}})


def random_model(*, depth: int = 2, width: int = 4, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    model = build_model(_config(depth, width).model)
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)
    model.eval()
    image, _ = synth_angiogram(np.random.default_rng(seed), 64)
    with torch.no_grad():
        model.head.weight.mul_(50)
        logits = model(image_tensor(image, model.size_multiple), with_side_outputs=False).logits
        model.head.bias.sub_(logits.mean())
    return model


def write_random_checkpoint(path: Path, *, depth: int = 2, width: int = 4, seed: int = 0,
                            threshold: float = 0.5) -> Path:
    model = random_model(depth=depth, width=width, seed=seed)
    save_checkpoint({"config": config_to_dict(_config(depth, width)), "model": model.state_dict(), "epoch": 0,
                     "threshold": threshold}, path)
    return path


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with n intra-op threads: these tiny models are faster on one thread, and much steadier
    on a machine whose cores are busy with other work."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
