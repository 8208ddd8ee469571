"""benchmarks/train_speed.py: its FLOP floor and paired ratios, and an end-to-end tiny run."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tests.model_files import torch_threads

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_speed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_ratio_is_the_median_of_step_by_step_ratios(bench):
    ratio = bench.paired_ratio([2.0, 3.0, 4.0, 9.0], [1.0, 1.0, 2.0, 3.0])  # ratios 2, 3, 2, 3
    assert ratio == {"median": 2.5, "q1": 2.0, "q3": 3.0}


def test_teacher_does_the_work_of_one_student_forward_and_a_dice_step_about_three(bench):
    config = bench.ModelConfig(depth=2, width=4)
    batch = bench.make_batches(1, 2, 32)[0]
    dice = bench.Trainee("dice", config, torch.device("cpu"), channels_last=False)
    dskd = bench.Trainee("dskd", config, torch.device("cpu"), channels_last=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        dskd.student(batch[0], with_side_outputs=True)
    dice_flops, dskd_flops = bench.step_flops(dice, batch), bench.step_flops(dskd, batch)
    assert dice_flops["teacher_forward"] == 0
    # BatchNorm folded into the teacher's convolutions adds no multiply-adds.
    assert dskd_flops["teacher_forward"] == counter.get_total_flops()
    # backward: a gradient for the inputs and one for the weights of every convolution (the first
    # one needs no input gradient), so a step is a little under three forward passes.
    forward_without_sides = dice_flops["student_step"] / 3
    assert 0.8 * forward_without_sides < dskd_flops["teacher_forward"] < 1.3 * forward_without_sides


def test_runs_on_a_tiny_setting(bench, tmp_path):
    with torch_threads(1):
        bench.main(["--depth", "2", "--width", "4", "--crop", "32", "--batch", "2", "--steps", "4",
                    "--batches", "2", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "train-speed.json").read_text())
    assert set(report["results"]) == {"dice/channels_last", "dskd/channels_last",
                                      "dice/row_major", "dskd/row_major"}
    assert all(len(r["step_seconds"]) == 4 for r in report["results"].values())
    ratio = report["dskd_over_dice_step_time"]["channels_last"]
    assert ratio["q1"] <= ratio["median"] <= ratio["q3"]
    assert report["dskd_over_dice_flops"] > 1.25
    assert "Floating-point operations per step" in (tmp_path / "train-speed.md").read_text()
