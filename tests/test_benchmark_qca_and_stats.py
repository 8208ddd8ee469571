"""The new benchmark scripts run end to end on small settings and write what they promise."""

import json

from tests.benchmark_scripts import load_benchmark


def test_seed_interval_calibration_writes_coverages(tmp_path):
    calibration = load_benchmark("seed_interval_calibration")
    out = str(tmp_path / "cal")
    assert calibration.main(["--experiments", "30", "--resamples", "200", "--out", out]) == 0
    report = json.loads((tmp_path / "cal.json").read_text())
    assert len(report["scenarios"]) == 6 and report["aa"]
    for scenario in report["scenarios"]:
        assert 0 <= scenario["coverage_seed_aware"] <= 1 and scenario["experiments"] == 30
    assert "A/A checks" in (tmp_path / "cal.md").read_text()


def test_qca_phantoms_measures_known_answers(tmp_path):
    phantoms = load_benchmark("qca_phantoms")
    assert phantoms.main(["--per-cell", "1", "--out", str(tmp_path / "qca")]) == 0
    summary = json.loads((tmp_path / "qca.json").read_text())["summary"]["probability"]
    assert summary["diameter_mae_widths_3_plus"] < 0.2  # the probability map's sub-pixel edges
    assert summary["false_per_image"] == 0.0


def test_qca_synthetic_splits_clear_from_overlapped_lesions(tmp_path):
    from tests.model_files import write_random_checkpoint

    synthetic = load_benchmark("qca_synthetic")
    checkpoint = write_random_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "synthetic"
    arguments = ["--checkpoint", str(checkpoint), "--n", "3", "--size", "192", "--out", str(out)]
    assert synthetic.main(arguments) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    split = report["by_overlap"]
    for where in ("through_the_model", "on_the_true_masks"):
        assert split["clear"][where]["true_lesions"] + split["overlapped"][where]["true_lesions"] == (
            report[where]["true_lesions"]
        )
        assert split["clear"][where]["found"] + split["overlapped"][where]["found"] == report[where]["found"]
    assert "| overlapped: lesions matched |" in out.with_suffix(".md").read_text()
