"""benchmarks/serve_load.py runs end to end on a tiny setting: a real `dskd serve` process on the
loopback, clients that meet a full queue (queue 0), and `dskd predict` for the reference."""

import json

from tests.benchmark_scripts import load_benchmark


def test_load_script_runs_on_a_tiny_setting(tmp_path):
    bench = load_benchmark("serve_load")
    bench.main(["--requests", "6", "--concurrency", "3", "--size", "64", "--depth", "2", "--width", "4",
                "--threads", "1", "--queue", "0", "--predict-images", "3", "--predict-runs", "1",
                "--retry-cap", "0.05", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "serve-load.json").read_text())
    (level,) = result["levels"]
    assert (level["concurrency"], level["answered"], level["errors"]) == (3, 6, 0)
    assert not level["stopped_by_time"]
    assert level["throughput"] > 0 and 0 < level["p50_s"] <= level["p95_s"] <= level["p99_s"]
    assert level["peak_rss_mib"] > 50  # a Python process with torch loaded
    assert len(result["predict_fps"]) == 1 and result["predict_fps"][0] > 0
    table = (tmp_path / "serve-load.md").read_text()
    assert "| 3 | 6/6 |" in table and "random weights" in table and "load average" in table
