"""benchmarks/ort_spinning.py: blocking against spinning ONNX Runtime workers, on a tiny frame."""

import json

from tests.benchmark_scripts import load_benchmark


def test_both_settings_are_timed_alone_and_alternating_and_written(tmp_path):
    module = load_benchmark("ort_spinning")
    module.main(["--widths", "4", "--size", "64", "--threads", "1", "--frames", "2", "--blocks", "3",
                 "--out", str(tmp_path)])
    result = json.loads((tmp_path / "ort-spinning.json").read_text())
    assert [(r["width"], r["setting"]) for r in result["rows"]] == [(4, "blocking"), (4, "spin-wait")]
    for row in result["rows"]:
        assert len(row["alone_blocks"]) == 3 and row["alone_fps"] > 0 and row["alternating_fps"] > 0
    assert "| 4 | spin-wait |" in (tmp_path / "ort-spinning.md").read_text()
