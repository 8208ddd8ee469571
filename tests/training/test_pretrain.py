"""Pretraining on streamed synthetic angiograms (data.source=synthetic) and model.init."""

import pytest
import torch

from dskd.checkpoint import load_checkpoint
from dskd.config import load_config, replace
from dskd.errors import CheckpointError, ConfigError
from dskd.training.fit import fit
from dskd.training.setup import build_training

STREAM = ["data.source=synthetic", "synthetic.size=64", "synthetic.val_images=2", "data.crop_size=32",
          "data.batch_size=4", "data.samples_per_epoch=8", "model.depth=2", "model.width=4",
          "optim.epochs=1", "loss.objective=dice", "run.threads=1"]


def test_pretrain_on_the_stream_then_start_from_it(tiny_config, tmp_path):
    best = fit(load_config(None, STREAM), tmp_path / "pretrain")
    payload = load_checkpoint(best)
    assert payload["config"]["data"]["source"] == "synthetic"
    config = replace(tiny_config, model={"depth": 2, "width": 4, "init": str(best)})
    training = build_training(config, torch.device("cpu"))
    for name, value in training.student.state_dict().items():
        assert torch.equal(value, payload["model"][name]), name


def test_init_from_another_architecture_names_the_setting(tiny_config, tmp_path):
    best = fit(load_config(None, STREAM), tmp_path / "pretrain")
    config = replace(tiny_config, model={"depth": 2, "width": 8, "init": str(best)})
    with pytest.raises(CheckpointError, match="set model.width=4"):
        build_training(config, torch.device("cpu"))


def test_init_from_a_missing_file(tiny_config, tmp_path):
    config = replace(tiny_config, model={"init": str(tmp_path / "none.pt")})
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        build_training(config, torch.device("cpu"))


@pytest.mark.parametrize(("override", "message"), [
    ("synthetic.size=16", "smaller than data.crop_size"),
    ("teacher.runs_on=whole_images", "use teacher.runs_on=batch"),
    ("synthetic.realism=photo", "valid: basic, standard, full"),
])
def test_stream_settings_are_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*STREAM, override])
