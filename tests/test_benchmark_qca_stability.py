"""benchmarks/qca_stability.py runs on a tiny setting and measures every followed lesion."""

import json

from tests.benchmark_scripts import load_benchmark


def test_runs_on_true_masks_and_summarises(tmp_path):
    bench = load_benchmark("qca_stability")
    assert bench.main(["--n", "3", "--frames", "12", "--size", "256", "--out", str(tmp_path / "s")]) == 0
    result = json.loads((tmp_path / "s.json").read_text())
    summary = result["summary"]["true masks"]
    assert summary["true_lesions"] >= 1 and 1 <= summary["followed"] <= summary["true_lesions"]
    followed = [r for r in result["rows"] if "sd" in r]
    assert all(r["frames"] >= 6 and 0 <= r["found_on"] <= r["frames"] and r["sd"] >= 0 for r in followed)
    assert "| %DS SD over the nearby frames, median |" in (tmp_path / "s.md").read_text()
