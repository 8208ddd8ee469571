"""End to end through the command line, and bad input through the command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dskd.cli import main
from tests.conftest import TINY_OVERRIDES


def _set_args(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """synth -> train (2 epochs) through the CLI; returns (workdir, run folder)."""
    work = tmp_path_factory.mktemp("cli")
    assert main(["synth", "--out", str(work / "train"), "--n", "8", "--size", "64", "--seed", "1"]) == 0
    assert main(["synth", "--out", str(work / "test"), "--n", "3", "--size", "64", "--seed", "2"]) == 0
    config = work / "tiny.yaml"
    config.write_text("loss:\n  objective: dskd\n")
    args = ["train", "--config", str(config), "--out", str(work / "run"),
            "--set", f"data.root={work / 'train'}", *_set_args(TINY_OVERRIDES)]
    assert main(args) == 0
    return work, work / "run"


def test_synth_writes_generic_layout(trained_run):
    work, _ = trained_run
    images = sorted((work / "train" / "images").glob("*.png"))
    masks = sorted((work / "train" / "masks").glob("*.png"))
    assert len(images) == 8 and [p.name for p in images] == [p.name for p in masks]


def test_evaluate_writes_csv_and_summary(trained_run):
    work, run = trained_run
    out = work / "eval"
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(work / "test"),
                 "--out", str(out), "--overlays"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 3 and summary["threshold_policy"] == "fixed"
    for name in ("dice", "iou", "accuracy", "sensitivity", "specificity", "precision"):
        assert 0 <= summary["per_image"][name]["mean"] <= 1
        assert 0 <= summary["pooled"][name] <= 1
    assert len((out / "per_image.csv").read_text().splitlines()) == 4
    assert len(list((out / "overlays").glob("*.png"))) == 3


def test_predict_writes_masks_and_overlays(trained_run):
    work, run = trained_run
    out = work / "pred"
    single = work / "test" / "images" / "case_0000.png"
    assert main(["predict", "--checkpoint", str(run / "best.pt"), str(single),
                 str(work / "test" / "images"), "--out", str(out)]) == 0
    mask = np.asarray(Image.open(out / "case_0000_mask.png"))
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
    assert (out / "case_0002_overlay.png").exists()


def test_console_script_runs_as_a_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dskd", "train", "--config", str(tmp_path / "x.yaml"),
                             "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert result.returncode == 2
    expected = f"dskd: error: {tmp_path / 'x.yaml'}: config file not found"
    assert result.stderr.strip().splitlines() == [expected]


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dskd: error: ")
    return err[0]


def _dataset(root: Path, image: np.ndarray, mask: np.ndarray, n: int = 3) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(n):
        Image.fromarray(image).save(root / "images" / f"{k}.png")
        Image.fromarray(mask).save(root / "masks" / f"{k}.png")
    return root


def _train_args(root: Path, out: Path) -> list[str]:
    return ["train", "--config", str(Path(__file__).parent / "fixtures" / "tiny.yaml"), "--out", str(out),
            "--set", f"data.root={root}", *_set_args(TINY_OVERRIDES)]


def test_bad_input_missing_checkpoint(capsys, tmp_path):
    line = _one_line_error(capsys, ["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--data",
                                    str(tmp_path), "--out", str(tmp_path / "e")])
    assert "none.pt: checkpoint not found" in line


def test_bad_input_size_mismatch(capsys, tmp_path):
    root = _dataset(tmp_path / "d", np.zeros((64, 64), np.uint8), np.zeros((64, 60), np.uint8))
    line = _one_line_error(capsys, _train_args(root, tmp_path / "r"))
    assert "0.png: size 60x64 does not match its image" in line


def test_bad_input_non_binary_mask(capsys, tmp_path):
    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    root = _dataset(tmp_path / "d", np.zeros((64, 64), np.uint8), ramp)
    line = _one_line_error(capsys, _train_args(root, tmp_path / "r"))
    assert "masks/0.png: mask is not binary" in line


def test_bad_input_unreadable_image(capsys, tmp_path):
    root = _dataset(tmp_path / "d", np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8))
    (root / "images" / "1.png").write_bytes(b"\x89PNG truncated")
    line = _one_line_error(capsys, _train_args(root, tmp_path / "r"))
    assert "images/1.png: unreadable image" in line


def test_bad_input_unknown_config_key(capsys, tmp_path):
    config = Path(__file__).parent / "fixtures" / "tiny.yaml"
    line = _one_line_error(capsys, ["train", "--config", str(config), "--out", str(tmp_path / "r"),
                                    "--set", "loss.wdice=2"])
    assert "unknown config key 'loss.wdice'" in line and "did you mean 'w_dice'" in line


def test_bad_input_missing_file_for_predict(capsys, tmp_path, trained_run):
    _, run = trained_run
    line = _one_line_error(capsys, ["predict", "--checkpoint", str(run / "best.pt"),
                                    str(tmp_path / "gone.png"), "--out", str(tmp_path / "p")])
    assert "gone.png: file not found" in line


def test_bad_input_corrupt_checkpoint(capsys, tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    line = _one_line_error(capsys, ["predict", "--checkpoint", str(tmp_path / "bad.pt"), str(tmp_path),
                                    "--out", str(tmp_path / "p")])
    assert "bad.pt: not a readable dskd checkpoint" in line
