"""benchmarks/inference.py and fusion_levers.py run end to end on a tiny setting and write their
tables and JSON."""

import json

import pytest

from tests.benchmark_scripts import load_benchmark
from tests.model_files import torch_threads, write_random_checkpoint


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("inference")


def test_flop_count_of_a_one_level_unet_by_hand(bench):
    # depth 1, width 1, 8x8 input, 2 FLOPs per multiply-add, 3x3 convs (no bias counted):
    # encoder 1->1, 1->1 at 8x8; bottleneck 1->2, 2->2 at 4x4; up 2->1 (2x2, stride 2) at 8x8;
    # decoder 2->1, 1->1 at 8x8; head 1->1 (1x1) at 8x8.
    model = bench.build_model(bench.parse_config("depth=1,width=1"))
    macs = 64 * 9 * (1 + 1) + 16 * 9 * (2 + 4) + 16 * 2 * 4 + 64 * 9 * (2 + 1) + 64
    assert bench.count_flops(model, 8) == 2 * macs


def test_runs_on_a_tiny_setting(bench, tmp_path):
    checkpoint = write_random_checkpoint(tmp_path / "m.pt", depth=2, width=4)
    out = tmp_path / "bench.md"
    with torch_threads(1):
        bench.main(["--configs", "depth=2,width=4", "--checkpoints", str(checkpoint), "--size", "32",
                    "--frames", "3", "--warmup", "1", "--budget", "1", "--peak-sizes", "64",
                    "--only", "torch eager", "torch channels_last", "torch frozen", "onnxruntime",
                    "onnxruntime spin-wait", "--no-gpu", "--out", str(out)])
    result = json.loads(out.with_suffix(".json").read_text())
    variants = {row["variant"] for row in result["cpu_rows"]}
    expected = {"torch eager", "torch channels_last", "torch frozen", "onnxruntime", "onnxruntime spin-wait"}
    assert expected <= variants
    assert all(row["fps"] > 0 and row["gflops"] > 0 for row in result["cpu_rows"])
    assert all(row["frames_timed"] == 3 for row in result["cpu_rows"])  # interleaved and alone alike
    # every row against its own data type's ceiling and a roofline that bounds it
    rows, limits = result["cpu_rows"], result["ceilings"]
    assert all(row["roofline_fps"] > 0 and row["bound"] in ("compute", "memory") for row in rows)
    assert limits["bandwidth_gbs"] > 0 and limits["peaks"]["float32"]["measured"]["gops"] > 0
    trained = [row for row in result["cpu_rows"] if row["trained"]]
    assert trained and all(row["max_abs_dp"] < 1e-4 for row in trained if "bf16" not in row["variant"])
    assert "| onnxruntime |" in out.read_text()


def test_fusion_levers_profiles_and_times_the_fused_network(tmp_path):
    levers = load_benchmark("fusion_levers")
    out = tmp_path / "levers"
    with torch_threads(1):
        assert levers.main(["--width", "4", "--size", "64", "--rounds", "2", "--threads", "1",
                            "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["float32_fused_logits_identical"] is True  # a ReLU moved into the convolution
    assert {"float32", "float32 fused ReLU", "bf16 folded", "bf16 fused ReLU"} <= set(report["ms"])
    assert all(value < 0.1 for value in report["bf16_max_abs_logit_difference_to_folded"].values())
    fused = report["profile_shares"]["bf16 fused ReLU"]
    assert "aten::clamp_min_" not in fused and "mkldnn::_convolution_pointwise" in fused
