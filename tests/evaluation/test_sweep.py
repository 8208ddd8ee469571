"""`dskd threshold-sweep`: the rule of choose_threshold, validation images only, stored threshold."""

import json

import numpy as np
import pytest

from dskd.checkpoint import load_checkpoint, save_checkpoint
from dskd.config import config_to_dict
from dskd.data.cases import CaseArrays
from dskd.errors import DataError
from dskd.evaluation.evaluate import evaluate_checkpoint
from dskd.evaluation.sweep import sweep_checkpoint
from dskd.metrics.scoring import (
    OVERLAP_ONLY,
    best_threshold,
    choose_threshold,
    threshold_grid,
    threshold_sweep,
)
from dskd.models.unet import build_model


def test_sweep_chooses_what_training_would_choose():
    rng = np.random.default_rng(0)
    cases, probs = [], []
    for k in range(3):
        mask = rng.random((20, 20)) < 0.2
        cases.append(CaseArrays(str(k), np.zeros((20, 20), np.float32), mask, None))
        probs.append(np.clip(mask * 0.35 + rng.random((20, 20)) * 0.5, 0, 1).astype(np.float32))
    rows = threshold_sweep(cases, probs, threshold_grid())
    assert [r["threshold"] for r in rows] == pytest.approx(np.arange(1, 20) * 0.05)
    assert best_threshold(rows) == choose_threshold(cases, probs)
    # Raising the threshold can only lose vessel pixels.
    sensitivity = [r["sensitivity_mean"] for r in rows]
    assert sensitivity == sorted(sensitivity, reverse=True)


def _checkpoint(tiny_config, path):
    save_checkpoint({"config": config_to_dict(tiny_config), "model": build_model(tiny_config.model)
                     .state_dict(), "epoch": 0, "threshold": 0.5}, path)
    return path


def test_sweep_on_the_checkpoints_validation_split_and_store(tiny_config, tmp_path):
    ckpt = _checkpoint(tiny_config, tmp_path / "best.pt")
    result = sweep_checkpoint(ckpt, tmp_path / "sweep", store=tmp_path / "tuned.pt")
    assert result["n_images"] == 2 and "validation split" in result["images"]  # 8 images, 25% held out
    assert {p.name for p in (tmp_path / "sweep").iterdir()} == {
        "threshold_sweep.csv", "threshold_sweep.json", "threshold_sweep.png"}
    stored = load_checkpoint(tmp_path / "tuned.pt")
    assert stored["threshold"] == result["chosen_threshold"]
    assert stored["config"]["run"]["threshold"] == "validation"
    summary = evaluate_checkpoint(tmp_path / "tuned.pt", tiny_config.data.root, tmp_path / "eval",
                                  protocol=OVERLAP_ONLY)
    assert summary.threshold == result["chosen_threshold"]
    assert summary.threshold_policy == "validation"
    assert json.loads((tmp_path / "sweep" / "threshold_sweep.json").read_text())["stored_in"]


def test_test_split_is_refused(tiny_config, tmp_path):
    ckpt = _checkpoint(tiny_config, tmp_path / "best.pt")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"val": ["case_0000"], "test": ["case_0001"]}))
    with pytest.raises(DataError, match="threshold chosen on the test set"):
        sweep_checkpoint(ckpt, tmp_path / "s", data_root=tiny_config.data.root, split_file=str(split),
                         split_part="test")
    with pytest.raises(DataError, match="--step 0.7"):
        threshold_grid(0.7)
