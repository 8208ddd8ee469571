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
    assert "| graph |" in (tmp_path / "qca.md").read_text()  # the speed split by stage


def test_qca_phantoms_pools_seeds_and_can_skip_speed(tmp_path):
    phantoms = load_benchmark("qca_phantoms")
    arguments = ["--per-cell", "1", "--seed", "3", "4", "--no-speed", "--out", str(tmp_path / "q")]
    assert phantoms.main(arguments) == 0
    report = json.loads((tmp_path / "q.json").read_text())
    assert "speed_ms" not in report and "Speed not measured (--no-speed)." in (tmp_path / "q.md").read_text()
    by_seed = report["detection_by_seed"]  # two seeds pooled, each also alone
    pooled = report["summary"]["probability"]
    assert report["images"] == 2 * 32
    per_seed = [by_seed[seed]["probability"]["significant_lesions"] for seed in ("3", "4")]
    assert sum(per_seed) == pooled["significant_lesions"]
    low, high = pooled["sensitivity_50_ci95"]
    assert low <= pooled["sensitivity_50"] <= high


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


def test_qca_cimat_reads_the_recipe_on_the_test_split_once_and_ledgers_it(tmp_path):
    import numpy as np
    from PIL import Image

    from dskd.data.synthetic import synth_angiogram
    from dskd.evaluation.ledger import read_ledger
    from tests.model_files import write_random_checkpoint

    qca_cimat = load_benchmark("qca_cimat")
    data = tmp_path / "cimat"  # CIMAT's layout with small synthetic angiograms (testing/ is all it reads)
    for part, count in (("testing", 20),):
        (data / part).mkdir(parents=True)
        for n in range(1, count + 1):
            image, mask = synth_angiogram(np.random.default_rng([n, count]), 64)
            Image.fromarray((image * 255).astype(np.uint8)).save(data / part / f"{n}.png")
            Image.fromarray((mask * 255).astype(np.uint8)).save(data / part / f"{n}_gt.png")
    runs = tmp_path / "runs"
    for fold in range(5):
        (runs / f"fold{fold}-seed0").mkdir(parents=True)
        write_random_checkpoint(runs / f"fold{fold}-seed0" / "last.pt", seed=fold)
        (runs / f"fold{fold}-seed0" / "training_curves.png").write_bytes(b"")  # a finished run
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.json").write_text(json.dumps(
        {"runs": str(runs), "chosen_tta": "none", "chosen_threshold": 0.95}))
    ledger, out = tmp_path / "ledger.jsonl", tmp_path / "qca-test"
    assert qca_cimat.main(["--recipe", str(recipe), "--data", str(data), "--out", str(out),
                           "--ledger", str(ledger)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["images"] == 20 and report["folds"] == ["test"]
    [look] = read_ledger(ledger)
    assert look["part"] == "test" and look["n_images"] == 20 and look["what"].count("last.pt") == 5
    assert "CIMAT testing 1-20" in out.with_suffix(".md").read_text()
