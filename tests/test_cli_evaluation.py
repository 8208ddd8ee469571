"""`dskd evaluate --pred/--labels`, `dskd compare`, `dskd threshold-sweep` through the command
line, and their one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dskd.checkpoint import save_checkpoint
from dskd.cli import main
from dskd.config import config_to_dict
from dskd.models.unet import build_model


def _folders(root: Path) -> Path:
    """labels/<k>_gt.png, a/<k>.png (exact), b/<k>.png (each line broken), fov/<k>.png."""
    for k in range(6):
        label = np.zeros((24, 40), np.uint8)
        label[4 + 3 * k, 3:37] = 255
        broken = label.copy()
        broken[:, 18:20] = 0
        fov = np.zeros_like(label)
        fov[:, :30] = 255
        for folder, name, array in (("labels", f"{k}_gt", label), ("a", k, label), ("b", k, broken),
                                    ("fov", k, fov)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"{name}.png")
    return root


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dskd: error: ")
    return err[0]


def _evaluate(root: Path, method: str, *extra: str) -> list[str]:
    return ["evaluate", "--pred", str(root / method), "--labels", str(root / "labels"), "--label-suffix",
            "_gt", "--out", str(root / f"eval_{method}"), *extra]


def test_evaluate_masks_then_compare(tmp_path, capsys):
    root = _folders(tmp_path)
    assert main(_evaluate(root, "a", "--no-report")) == 0
    assert main(_evaluate(root, "b", "--no-report")) == 0
    printed = capsys.readouterr().out
    assert "6 images, threshold external (external)" in printed and "betti_0_error" in printed
    summary = json.loads((root / "eval_b" / "summary.json").read_text())
    assert summary["per_image"]["betti_0_error"]["mean"] == 1.0 and summary["pooled"]["dice"] < 1
    assert main(["compare", str(root / "eval_a"), str(root / "eval_b"), "--out", str(root / "cmp"),
                 "--resamples", "300", "--labels", "exact", "broken"]) == 0
    printed = capsys.readouterr().out
    assert "### broken vs exact (6 images" in printed
    assert "| betti_0_error | lower | 0.00 | 1.00 | 1.00 | [1.00, 1.00] |" in printed
    result = json.loads((root / "cmp" / "comparison.json").read_text())
    assert result["comparisons"][0]["metrics"]["dice"]["p_value"] == pytest.approx(2 / 64)
    assert (root / "cmp" / "comparison.md").is_file() and (root / "cmp" / "report.html").is_file()


def test_field_of_view_and_protocol_flags(tmp_path):
    root = _folders(tmp_path)
    assert main(_evaluate(root, "b", "--fov", str(root / "fov"), "--connectivity", "4",
                          "--empty-policy", "nan", "--metrics", "overlap,topology", "--no-report")) == 0
    summary = json.loads((root / "eval_b" / "summary.json").read_text())
    assert summary["protocol"] == {"connectivity": 4, "empty_policy": "nan", "zero_division": 1.0,
                                   "groups": ["overlap", "topology"], "spacing_mm": None,
                                   "length_units": "px"}
    assert "hd95" not in summary["per_image"] and summary["fov"] == str(root / "fov")
    rows = (root / "eval_b" / "per_image.csv").read_text().splitlines()
    header = rows[0].split(",")
    tp, fn = (int(rows[1].split(",")[header.index(k)]) for k in ("tp", "fn"))
    assert (tp, fn) == (25, 2)  # columns 3..29 of the line lie in the field of view, 18 and 19 missed


def test_threshold_sweep_command(tiny_config, tmp_path, capsys):
    ckpt = tmp_path / "best.pt"
    save_checkpoint({"config": config_to_dict(tiny_config), "model": build_model(tiny_config.model)
                     .state_dict(), "epoch": 0, "threshold": 0.5}, ckpt)
    assert main(["threshold-sweep", "--checkpoint", str(ckpt), "--out", str(tmp_path / "s")]) == 0
    assert "on 2 images: the checkpoint's validation split" in capsys.readouterr().out
    line = _one_line_error(capsys, ["threshold-sweep", "--checkpoint", str(ckpt), "--out",
                                    str(tmp_path / "s"), "--data", str(tiny_config.data.root),
                                    "--split", "test"])
    assert "threshold chosen on the test set inflates the test figures" in line


def test_one_line_errors(tmp_path, capsys):
    root = _folders(tmp_path)
    line = _one_line_error(capsys, ["evaluate", "--out", str(tmp_path / "e")])
    assert "give --checkpoint CKPT --data PATH" in line
    line = _one_line_error(capsys, ["evaluate", "--checkpoint", "x.pt", "--pred", str(root / "a"),
                                    "--data", "d", "--out", str(tmp_path / "e")])
    assert "give --checkpoint CKPT --data PATH" in line
    line = _one_line_error(capsys, _evaluate(root, "a", "--metrics", "overlap,topolgy"))
    assert "unknown group 'topolgy'; valid: overlap, probabilistic, topology, distance" in line
    (root / "b" / "5.png").unlink()
    line = _one_line_error(capsys, _evaluate(root, "b"))
    assert "hold different images: 1 labels have no prediction (5)" in line
    line = _one_line_error(capsys, ["compare", str(root / "a"), str(root / "labels")])
    assert "no per_image.csv" in line


def test_checkpoint_report_shows_training_curves(tiny_config, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint({"config": config_to_dict(tiny_config), "model": build_model(tiny_config.model)
                     .state_dict(), "epoch": 2, "threshold": 0.5}, run / "best.pt")
    (run / "log.csv").write_text("epoch,lr,alpha_t,loss,val_dice,seconds\n"
                                 "1,0.01,0.0,1.2,0.3,1.0\n2,0.01,0.25,1.0,0.4,1.0\n")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["case_0000", "case_0001"]}))
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(tiny_config.data.root),
                 "--split-file", str(split), "--out", str(tmp_path / "e")]) == 0
    assert "2 images, threshold 0.50 (fixed)" in capsys.readouterr().out
    html = (tmp_path / "e" / "report.html").read_text()
    for picture in ("training_curves.png", "pr_curve.png", "dice_boxplot.png", "gallery.png"):
        assert (tmp_path / "e" / picture).is_file() and picture in html


def test_nan_zero_division_is_written_as_json_and_comparable(tmp_path, capsys):
    root = _folders(tmp_path)
    for method in ("a", "b"):
        assert main(_evaluate(root, method, "--zero-division", "nan", "--metrics", "overlap",
                              "--no-report")) == 0
    summary = (root / "eval_a" / "summary.json").read_text()
    assert json.loads(summary)["protocol"]["zero_division"] == "nan" and "NaN" not in summary
    assert main(["compare", str(root / "eval_a"), str(root / "eval_b"), "--resamples", "100"]) == 0
