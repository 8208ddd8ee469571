"""Shared fixtures: a tiny synthetic dataset and a tiny, fast training config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dskd.config import Config, load_config
from dskd.data.synthetic import write_synthetic_dataset

# The tests' tensors are tiny: one thread is faster than several and keeps parallel jobs apart.
torch.set_num_threads(1)

TINY_OVERRIDES = [
    "model.depth=2",
    "model.width=4",
    "data.crop_size=32",
    "data.batch_size=4",
    "data.samples_per_epoch=8",
    "data.val_fraction=0.25",
    "optim.epochs=2",
    "optim.lr=0.01",
]


@pytest.fixture(autouse=True, scope="session")
def float32_unless_asked():
    """precision "auto" (predict's and serve's default) computes in bf16 on CPUs with bf16 units:
    the tests see a CPU without them, so their masks are float32's on every machine. Tests of bf16
    itself patch dskd.inference.precision.cpu_bf16_units back."""
    import dskd.inference.precision

    with pytest.MonkeyPatch.context() as patch:  # session-wide: module fixtures predict too
        patch.setattr(dskd.inference.precision, "cpu_bf16_units", lambda: None)
        yield


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 synthetic 64x64 angiograms in the generic folder layout."""
    root = tmp_path_factory.mktemp("synth") / "train"
    return write_synthetic_dataset(root, n=8, size=64, seed=3, progress=False)


@pytest.fixture()
def tiny_config(tiny_dataset: Path) -> Config:
    return load_config(None, [f"data.root={tiny_dataset}", *TINY_OVERRIDES])
