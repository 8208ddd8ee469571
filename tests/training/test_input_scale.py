"""A network that sees images upscaled (model.input_scale): it trains on upscaled crops, and every
prediction path (PyTorch, ONNX Runtime, ensembles, the CLI) feeds it upscaled frames and gives
masks of the image's own size."""

import numpy as np
import pytest
import torch
from PIL import Image

from dskd.checkpoint import load_model
from dskd.cli import main
from dskd.config import load_config, replace
from dskd.data.synthetic import synth_angiogram, write_synthetic_dataset
from dskd.errors import ConfigError, DskdError
from dskd.inference import frame_probabilities
from dskd.inference.backends import OnnxNet, TorchNet
from dskd.inference.ensemble import EnsembleNet
from dskd.training.data import training_data
from dskd.training.distributed import World
from dskd.training.fit import fit
from tests.conftest import TINY_OVERRIDES
from tests.model_files import random_model


@pytest.fixture(scope="module")
def upscaled_run(tmp_path_factory):
    """A tiny run of model.input_scale=2 and its ONNX export."""
    work = tmp_path_factory.mktemp("scale")
    root = write_synthetic_dataset(work / "train", n=8, size=64, seed=3, progress=False)
    config = load_config(None, [f"data.root={root}", *TINY_OVERRIDES, "model.input_scale=2"])
    best = fit(config, work / "run")
    assert main(["export", str(best), "--out", str(work / "model.onnx")]) == 0
    return config, best, work / "model.onnx", root


def test_training_crops_come_from_upscaled_images_and_validation_stays(upscaled_run):
    config, _, _, _ = upscaled_run
    data = training_data(config, torch.device("cpu"), World())
    assert all(c.image.shape == c.mask.shape == (128, 128) for c in data.train_cases)
    assert all(c.image.shape == (64, 64) for c in data.val_cases)


def test_the_checkpoint_and_export_carry_the_scale(upscaled_run):
    _, best, onnx_path, _ = upscaled_run
    model, stored, _ = load_model(best)
    assert stored.model.input_scale == 2 and model.input_scale == 2
    assert TorchNet(model).input_scale == 2 and OnnxNet(onnx_path).input_scale == 2


def test_the_network_runs_on_the_upscaled_frame_and_answers_at_the_frames_size(upscaled_run):
    _, best, onnx_path, _ = upscaled_run
    model, _, _ = load_model(best)
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape[-2:])))
    image = synth_angiogram(np.random.default_rng(5), 64)[0][:37, :50]
    torch_probs = frame_probabilities(TorchNet(model), image)
    assert torch_probs.shape == (37, 50) and seen == [(76, 100)]  # 2x, padded to a multiple of 4
    onnx_probs = frame_probabilities(OnnxNet(onnx_path), image)
    assert np.abs(torch_probs - onnx_probs).max() < 1e-4


def test_predict_writes_masks_of_the_images_size(upscaled_run, tmp_path):
    _, best, _, root = upscaled_run
    image = sorted((root / "images").glob("*.png"))[0]
    assert main(["predict", "--checkpoint", str(best), str(image), "--out", str(tmp_path)]) == 0
    masks = [p for p in tmp_path.rglob("*.png") if "mask" in p.name or p.parent.name == "masks"]
    assert masks and all(Image.open(p).size == Image.open(image).size for p in masks)


def test_an_ensemble_of_two_scales_is_refused():
    one, two = random_model(seed=1), random_model(seed=2)
    two.input_scale = 2
    with pytest.raises(DskdError, match="different scales"):
        EnsembleNet([TorchNet(one), TorchNet(two)])


def test_scales_outside_one_to_four_and_synthetic_sources_are_refused(tiny_config):
    with pytest.raises(ConfigError, match="model.input_scale=5"):
        replace(tiny_config, model={"input_scale": 5})
    with pytest.raises(ConfigError, match="data.source=synthetic"):
        replace(tiny_config, model={"input_scale": 2}, data={"source": "synthetic"})
