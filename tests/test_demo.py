"""The demo end to end on a very small budget (the full demo's Dice is checked by running it)."""

import json

from dskd.demo import format_table, run_demo


def test_demo_writes_metrics_curves_and_overlays(tmp_path):
    overrides = ["model.width=4", "data.samples_per_epoch=16", "optim.epochs=2"]
    metrics = run_demo(tmp_path, overrides=overrides, train_images=8, test_images=3, size=96)
    written = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("dice", "iou", "accuracy", "sensitivity", "specificity", "precision"):
        assert 0.0 <= written[key] <= 1.0
        assert written[key] == metrics[key]
    assert written["n_test_images"] == 3 and written["threshold"] == 0.5
    assert (tmp_path / "training_curves.png").stat().st_size > 0
    assert len(list((tmp_path / "evaluation" / "overlays").glob("*.png"))) == 3
    assert (tmp_path / "evaluation" / "report.html").exists()
    assert "dice" in format_table(metrics)
