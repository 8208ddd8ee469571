"""benchmarks/quality.py end to end on a tiny synthetic dataset with a split file."""

import json
import subprocess
import sys
from pathlib import Path

from dskd.data.synthetic import write_synthetic_dataset

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "quality.py"


def test_quality_benchmark_writes_results_and_paired_comparisons(tmp_path):
    write_synthetic_dataset(tmp_path / "data", n=8, size=64, seed=5, progress=False)
    names = [f"case_{k:04d}" for k in range(8)]
    (tmp_path / "split.json").write_text(json.dumps(
        {"train": names[:4], "val": names[4:6], "test": names[6:]}))
    (tmp_path / "c.yaml").write_text("data:\n  root: data\n  split_file: split.json\n")
    tiny = ["model.depth=2", "model.width=4", "data.crop_size=32", "data.samples_per_epoch=8",
            "optim.epochs=1", "run.threads=1"]
    command = [sys.executable, str(SCRIPT), "--config", str(tmp_path / "c.yaml"), "--name", "q",
               "--methods", "dice", "dskd", "--seeds", "0", "1", "--runs", str(tmp_path / "runs"),
               "--results", str(tmp_path / "results"), *[a for o in tiny for a in ("--set", o)]]
    subprocess.run(command, check=True, capture_output=True, timeout=300)

    report = json.loads((tmp_path / "results" / "q.json").read_text())
    for method in ("dice", "dskd"):
        dice = report["results"][method]["dice"]
        assert 0 <= dice["mean"] <= 1 and len(dice["per_seed"]) == 2
    comparison = report["comparisons"]["dskd_vs_dice"]["dice"]
    assert comparison["n_images"] == 2 and 0 <= comparison["p_value"] <= 1
    assert "| dskd |" in (tmp_path / "results" / "q.md").read_text()
    # A second call reuses the scored runs instead of training again.
    before = (tmp_path / "runs" / "q" / "dice-seed0" / "best.pt").stat().st_mtime
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    assert (tmp_path / "runs" / "q" / "dice-seed0" / "best.pt").stat().st_mtime == before
