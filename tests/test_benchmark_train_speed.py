"""benchmarks/train_speed.py: its FLOP floor and paired ratios, and an end-to-end tiny run."""

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tests.benchmark_scripts import load_benchmark
from tests.model_files import torch_threads


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("train_speed")


def test_paired_ratio_is_the_median_of_step_by_step_ratios(bench):
    ratio = bench.paired_ratio([2.0, 3.0, 4.0, 9.0], [1.0, 1.0, 2.0, 3.0])  # ratios 2, 3, 2, 3
    assert ratio == {"median": 2.5, "q1": 2.0, "q3": 3.0}


def test_teacher_does_the_work_of_one_student_forward_and_a_dice_step_about_three(bench):
    config = bench.ModelConfig(depth=2, width=4)
    cases = bench.synthetic_cases(2, 32)
    batch = bench.make_batches(1, 2, 32, cases)[0]
    dice = bench.Trainee("dice", config, torch.device("cpu"), channels_last=False)
    dskd = bench.Trainee("dskd", config, torch.device("cpu"), channels_last=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        dskd.student(batch.images, with_side_outputs=True)
    dice_flops, dskd_flops = (bench.step_flops(t, batch, cases=cases, steps_per_epoch=1)
                              for t in (dice, dskd))
    assert dice_flops["teacher_forward"] == 0
    # BatchNorm folded into the teacher's convolutions adds no multiply-adds.
    assert dskd_flops["teacher_forward"] == counter.get_total_flops()
    # backward: a gradient for the inputs and one for the weights of every convolution (the first
    # one needs no input gradient), so a step is a little under three forward passes.
    forward_without_sides = dice_flops["student_step"] / 3
    assert 0.8 * forward_without_sides < dskd_flops["teacher_forward"] < 1.3 * forward_without_sides


def test_a_teacher_on_whole_images_costs_its_pixels_share(bench):
    # 2 whole 32 x 32 images once per "epoch" of 1 step = the teacher on 2 crops of 32 px.
    config = bench.ModelConfig(depth=2, width=4)
    cases = bench.synthetic_cases(2, 32)
    batch = bench.make_batches(1, 2, 32, cases)[0]
    per_batch, whole = (bench.Trainee("dskd", config, torch.device("cpu"), channels_last=False,
                                      teacher_runs_on=runs_on) for runs_on in ("batch", "whole_images"))
    per_batch_flops = bench.step_flops(per_batch, batch, cases=cases, steps_per_epoch=1)
    whole_flops = bench.step_flops(whole, batch, cases=cases, steps_per_epoch=4)
    assert whole_flops["teacher_forward"] == per_batch_flops["teacher_forward"] / 4
    assert whole_flops["student_step"] == per_batch_flops["student_step"]


def test_runs_on_a_tiny_setting(bench, tmp_path):
    with torch_threads(1):
        bench.main(["--depth", "2", "--width", "4", "--crop", "32", "--batch", "2", "--steps", "4",
                    "--batches", "2", "--images", "3", "--image-size", "48",
                    "--steps-per-epoch", "2", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "train-speed.json").read_text())
    assert set(report["results"]) == {"dice/channels_last", "dskd/channels_last",
                                      "dskd-whole-images/channels_last", "dice/row_major",
                                      "dskd/row_major"}
    assert all(len(r["step_seconds"]) == 4 for r in report["results"].values())
    ratio = report["over_dice_step_time"]["dskd/channels_last"]
    assert ratio["q1"] <= ratio["median"] <= ratio["q3"]
    assert report["over_dice_flops"]["dskd"] > 1.25
    # 3 images of 48 px every 2 steps of 2 crops of 32 px: 27/16 of a batch's teacher pixels
    # (the padding to a multiple of 4 adds none at 48 px).
    teacher = {name: report["flops_per_step"][name]["teacher_forward"]
               for name in ("dskd", "dskd-whole-images")}
    assert teacher["dskd-whole-images"] == pytest.approx(teacher["dskd"] * 27 / 16, rel=1e-9)
    assert "Floating-point operations per step" in (tmp_path / "train-speed.md").read_text()
