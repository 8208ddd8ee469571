"""benchmarks/int8_onnx.py: float32 against int8 ONNX models of one network, on a tiny frame."""

from tests.benchmark_scripts import load_benchmark


def test_each_format_is_timed_and_compared_with_float32(tmp_path):
    module = load_benchmark("int8_onnx")
    rows = module.measure_width(4, size=64, frames=2, threads=1, calibration=2, folder=tmp_path)
    assert [r["format"] for r in rows] == ["float32", "int8"]
    assert rows[0]["speedup"] == 1.0 and rows[0]["max_abs_dp"] == 0.0
    for row in rows[1:]:
        assert row["ms_per_frame"] > 0 and 0 < row["max_abs_dp"] < 0.05  # quantised, and close
    text = module.format_markdown({"command": "c", "cpu": "x", "threads": 1, "load_before": 0,
                                   "load_after": 0, "size": 64, "frames": 2, "rows": rows})
    assert "| 4 | int8 |" in text


def test_the_dice_check_scores_both_exports_on_the_models_held_out_images(tiny_config, tmp_path):
    from dskd.training.fit import fit

    module = load_benchmark("int8_onnx")
    best = fit(tiny_config, tmp_path / "run")
    check = module.dice_check(best, calibration=2, folder=tmp_path)
    assert check["images"] == 2 and check["width"] == 4  # val_fraction 0.25 of 8 images
    assert 0 <= check["dice_float32"] <= 1 and 0 <= check["dice_int8"] <= 1
    assert abs(check["difference"] - (check["dice_int8"] - check["dice_float32"])) < 2e-4


def test_the_checks_of_one_width_are_pooled_over_their_images():
    module = load_benchmark("int8_onnx")
    checks = [{"width": 8, "per_image": {"float32": [0.70, 0.80], "int8": [0.71, 0.80]}},
              {"width": 8, "per_image": {"float32": [0.60], "int8": [0.58]}},
              {"width": 16, "per_image": {"float32": [0.75], "int8": [0.75]}}]
    pooled = {p["width"]: p for p in module.pooled_by_width(checks)}
    assert pooled[8]["models"] == 2 and pooled[8]["images"] == 3
    assert abs(pooled[8]["difference"] - (-0.01 / 3)) < 1e-4
    assert (pooled[8]["int8_better"], pooled[8]["float32_better"]) == (1, 1)
    assert pooled[16]["images"] == 1
