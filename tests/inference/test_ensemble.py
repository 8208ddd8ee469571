"""Ensembles (the mean of several models' probabilities) and dihedral test-time augmentation."""

import numpy as np
import pytest
import torch

from dskd.cli import main
from dskd.inference import frame_probabilities
from dskd.inference.backends import TorchNet
from dskd.inference.ensemble import EnsembleNet
from tests.model_files import random_model, torch_threads, write_random_checkpoint

CPU = torch.device("cpu")


def test_an_ensemble_is_the_mean_of_its_members():
    a, b = TorchNet(random_model(depth=2, seed=1), CPU), TorchNet(random_model(depth=3, seed=2), CPU)
    ensemble = EnsembleNet([a, b])
    assert ensemble.size_multiple == 8
    image = np.random.default_rng(0).random((40, 40), dtype=np.float32)  # no padding for either
    mean = (frame_probabilities(a, image) + frame_probabilities(b, image)) / 2
    assert np.allclose(frame_probabilities(ensemble, image), mean, atol=1e-6)
    assert not np.allclose(frame_probabilities(a, image), mean, atol=1e-3)  # the members differ


def test_dihedral_tta_commutes_with_every_symmetry_of_the_square():
    with torch_threads(1):
        net = TorchNet(random_model(depth=2, seed=3), CPU)
        image = np.random.default_rng(1).random((32, 32), dtype=np.float32)
        out = frame_probabilities(net, image, tta="dihedral")
        assert np.allclose(frame_probabilities(net, image.T.copy(), tta="dihedral"), out.T, atol=1e-5)
        assert np.allclose(frame_probabilities(net, np.rot90(image).copy(), tta="dihedral"),
                           np.rot90(out), atol=1e-5)
        # flips alone do not: a transposed image gives another answer
        flips = frame_probabilities(net, image, tta="flips")
        assert not np.allclose(frame_probabilities(net, image.T.copy(), tta="flips"), flips.T,
                               atol=1e-5)


def test_evaluate_and_predict_take_several_checkpoints(tiny_dataset, tmp_path, capsys):
    first = write_random_checkpoint(tmp_path / "a.pt", depth=2, seed=1)
    second = write_random_checkpoint(tmp_path / "b.pt", depth=2, seed=2)
    with torch_threads(1):
        code = main(["evaluate", "--checkpoint", str(first), "--checkpoint", str(second),
                     "--data", str(tiny_dataset), "--out", str(tmp_path / "e"), "--tta", "dihedral",
                     "--no-report", "--metrics", "overlap"])
        assert code == 0
        code = main(["predict", "--checkpoint", str(first), "--checkpoint", str(second),
                     str(tiny_dataset / "images"), "--out", str(tmp_path / "p"), "--tta"])
    assert code == 0
    assert len(list((tmp_path / "p").rglob("*_mask.png"))) == 8
    summary = (tmp_path / "e" / "summary.json").read_text()
    assert str(first) in summary and str(second) in summary


def test_an_ensemble_needs_one_threshold(tiny_dataset, tmp_path, capsys):
    first = write_random_checkpoint(tmp_path / "a.pt", depth=2, seed=1, threshold=0.4)
    second = write_random_checkpoint(tmp_path / "b.pt", depth=2, seed=2, threshold=0.6)
    args = ["evaluate", "--checkpoint", str(first), "--checkpoint", str(second),
            "--data", str(tiny_dataset), "--out", str(tmp_path / "e"), "--no-report"]
    assert main(args) == 2
    assert "store different thresholds (0.4, 0.6); give one with --threshold" in capsys.readouterr().err
    with torch_threads(1):
        assert main([*args, "--threshold", "0.5", "--metrics", "overlap"]) == 0


@pytest.mark.parametrize("tta", ["none", "flips", "dihedral"])
def test_tta_of_a_symmetric_image_is_symmetric(tta):
    net = TorchNet(random_model(depth=2, seed=4), CPU)
    image = np.zeros((32, 32), np.float32)
    image[10:22, 10:22] = 1
    out = frame_probabilities(net, image, tta=tta)
    if tta == "dihedral":
        assert np.allclose(out, out.T, atol=1e-5) and np.allclose(out, out[::-1], atol=1e-5)
    assert out.shape == (32, 32) and np.isfinite(out).all()
