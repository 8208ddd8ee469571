"""benchmarks/learning_curve.py: the pretraining gain per label count from ablate result files."""

import json

from dskd.ablate.results import write_result
from dskd.ablate.scoring import FIGURES
from tests.benchmark_scripts import load_benchmark


def _result(variant, dice_by_image):
    images = {n: [d, d, d, d, 1.0, 0.0] for n, d in dice_by_image.items()}
    part = {"checkpoint": "last.pt", "epoch": 2, "threshold": 0.5, "images": images}
    return {"format": 1, "grid": "learning-curve", "reference": "n32-dice-scratch", "variant": variant,
            "overrides": [], "fold": 0, "seed": 0, "commit": "x", "trained_by": [],
            "config_hash": f"h{variant}", "epochs": 2, "wall_seconds": 60.0, "metrics": list(FIGURES),
            "primary": part, "secondary": {**part, "checkpoint": "best.pt"}}


def test_gain_per_count_and_objective(tmp_path):
    module = load_benchmark("learning_curve")
    scratch = {"i1": 0.5, "i2": 0.6, "i3": 0.7}
    files = {"n8-dice-scratch": scratch,
             "n8-dice-synthetic": {k: v + 0.1 for k, v in scratch.items()},
             "n8-dskd-scratch": {k: v + 0.02 for k, v in scratch.items()},
             "n4-dice-scratch": scratch}  # no synthetic run at 4 labels yet: left out
    for variant, dice in files.items():
        write_result(tmp_path / "results" / f"{variant}.fold0-seed0.json", _result(variant, dice))
    curve = module.learning_curve(module.read_results(tmp_path / "results"))
    (row,) = curve["synthetic_minus_scratch"]
    assert (row["labels"], row["objective"], row["n_images"]) == (8, "dice", 3)
    assert abs(row["difference"] - 0.1) < 1e-9 and row["reference_dice"] == 0.6
    (versus,) = curve["dskd_minus_dice"]
    assert (versus["labels"], versus["start"]) == (8, "scratch") and abs(versus["difference"] - 0.02) < 1e-9
    assert "| 8 | dice | 3 (0) | 0.6000 | 0.7000 | +10.0" in module.format_markdown(curve)
    module.plot(curve, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0
    json.dumps(curve)  # the committed file is plain JSON
