"""`dskd compare`: pairing by name, refusals, and the paired figures on known per-image values."""

import json

import numpy as np
import pytest
import torch

from dskd.errors import DataError
from dskd.evaluation.compare import compare_runs, format_markdown, write_comparison
from dskd.evaluation.evaluate import write_report
from dskd.metrics import Protocol
from dskd.metrics.scoring import summarize


def _run(folder, dice: dict[str, float], *, hd95: dict[str, float] | None = None,
         protocol: Protocol | None = None):
    rows = [{"name": n, "dice": d, "hd95": (hd95 or {}).get(n, 1.0), "tp": 1, "fp": 0, "fn": 0, "tn": 1}
            for n, d in dice.items()]
    counts = torch.tensor([[1, 0, 0, 1]] * len(rows))
    write_report(rows, summarize(rows, counts, threshold=0.5, threshold_policy="fixed",
                                 protocol=protocol or Protocol()), folder)
    return folder


NAMES = [f"img{k}" for k in range(6)]


def test_paired_differences_match_by_name(tmp_path):
    a = _run(tmp_path / "a", dict(zip(NAMES, [0.70, 0.72, 0.74, 0.76, 0.78, 0.80], strict=True)))
    # b lists the same images in another order and beats a by 0.02 on each.
    b = _run(tmp_path / "b", {n: v + 0.02 for n, v in reversed(list(
        zip(NAMES, [0.70, 0.72, 0.74, 0.76, 0.78, 0.80], strict=True)))},
        hd95={n: 0.5 for n in NAMES})
    result, runs = compare_runs([a, b], n_resamples=500)
    dice = result["comparisons"][0]["metrics"]["dice"]
    assert dice["n"] == 6 and dice["mean_difference"] == pytest.approx(0.02)
    assert dice["ci_low"] == pytest.approx(0.02) and dice["ci_high"] == pytest.approx(0.02)
    assert dice["p_value"] == pytest.approx(2 / 64)  # exact: all six differences positive
    assert (dice["b_better"], dice["a_better"]) == (6, 0)
    hd95 = result["comparisons"][0]["metrics"]["hd95"]
    assert hd95["mean_difference"] == pytest.approx(-0.5) and hd95["b_better"] == 6  # lower is better
    assert hd95["p_holm"] == pytest.approx(min(1, 2 * 2 / 64))
    table = format_markdown(result)
    assert "| dice | higher | 0.7500 | 0.7700 | 0.0200 | [0.0200, 0.0200] |" in table
    out = write_comparison(result, runs, tmp_path / "cmp")
    assert json.loads((out / "comparison.json").read_text())["n_images"] == 6
    assert (out / "report.html").is_file() and (out / "dice_boxplot.png").is_file()


def test_nan_pairs_are_left_out(tmp_path):
    a = _run(tmp_path / "a", dict(zip(NAMES, [0.5] * 6, strict=True)), hd95={"img0": float("nan")})
    b = _run(tmp_path / "b", dict(zip(NAMES, [0.6] * 6, strict=True)))
    result, _ = compare_runs([a, b], n_resamples=100)
    assert result["comparisons"][0]["metrics"]["hd95"]["n"] == 5
    assert result["comparisons"][0]["metrics"]["dice"]["n"] == 6


def test_different_image_sets_are_refused(tmp_path):
    a = _run(tmp_path / "a", dict(zip(NAMES, [0.5] * 6, strict=True)))
    b = _run(tmp_path / "b", dict(zip(NAMES[:5], [0.5] * 5, strict=True)))
    with pytest.raises(DataError, match=r"hold different images \(1 only in a, 0 only in b, e\.g\. img5\)"):
        compare_runs([a, b])


def test_different_protocols_are_refused(tmp_path):
    a = _run(tmp_path / "a", dict(zip(NAMES, [0.5] * 6, strict=True)))
    b = _run(tmp_path / "b", dict(zip(NAMES, [0.5] * 6, strict=True)), protocol=Protocol(connectivity=4))
    with pytest.raises(DataError, match="connectivity=4"):
        compare_runs([a, b])


def test_not_an_evaluation_folder(tmp_path):
    a = _run(tmp_path / "a", dict(zip(NAMES, [0.5] * 6, strict=True)))
    with pytest.raises(DataError, match="no per_image.csv; pass a folder written by `dskd evaluate"):
        compare_runs([a, tmp_path])
    with pytest.raises(DataError, match="metric 'clDice' is not in every run"):
        compare_runs([a, a], metrics=["clDice"])


def test_same_folder_names_get_distinct_labels(tmp_path):
    a = _run(tmp_path / "unet" / "evaluation", dict(zip(NAMES, np.linspace(0.5, 0.6, 6), strict=True)))
    b = _run(tmp_path / "dskd" / "evaluation", dict(zip(NAMES, np.linspace(0.6, 0.7, 6), strict=True)))
    result, _ = compare_runs([a, b], n_resamples=100)
    assert [r["label"] for r in result["runs"]] == ["unet/evaluation", "dskd/evaluation"]


def test_seed_replicates_add_the_seed_aware_interval(tmp_path):
    base = [0.70, 0.72, 0.74, 0.76, 0.78, 0.80]
    folders = {f"{side}{s}": _run(tmp_path / f"{side}{s}",
                                  {n: v + offset for n, v in zip(NAMES, base, strict=True)})
               for side, offsets in (("a", (0.0, 0.01, -0.01)), ("b", (0.02, 0.03, 0.01)))
               for s, offset in enumerate(offsets)}
    result, _ = compare_runs([folders["a0"], folders["b0"]], n_resamples=200,
                             replicates=([folders["a1"], folders["a2"]], [folders["b1"], folders["b2"]]))
    dice = result["comparisons"][0]["metrics"]["dice"]
    # Every image of b0 beats a0 by exactly 0.02: the image bootstrap sees no spread at all, while
    # the seeds move by +-0.01, which the seed-aware interval counts.
    assert dice["ci_low"] == pytest.approx(0.02) == dice["ci_high"]
    method = dice["method"]
    assert method["mean_difference"] == pytest.approx(0.02)
    assert method["ci_low"] < 0.0 < 0.04 < method["ci_high"]
    assert "seed-aware" in format_markdown(result)
    with pytest.raises(DataError, match="exactly two runs"):
        compare_runs([folders["a0"], folders["b0"], folders["b1"]], replicates=([folders["a1"]], []))
