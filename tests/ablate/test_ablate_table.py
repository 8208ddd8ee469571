"""The ablation table from result files: per-variant means, paired differences, partial grids."""

import json

import numpy as np
import pytest

from dskd.ablate.grid import Cell, Variant
from dskd.ablate.report import write_table
from dskd.ablate.results import read_result, read_results, result_path, write_result
from dskd.ablate.scoring import FIGURES
from dskd.ablate.table import ablation_table
from dskd.cli import main
from dskd.errors import DataError
from dskd.evaluation.stats import holm_adjust, paired_comparison


def _result(variant, fold, seed, dice_by_image, *, reference="a"):
    """A result file whose figures are all `dice` except precision (1 - dice), betti errors 1."""
    images = {n: [d, d, d, 1 - d, 1.0, None] for n, d in dice_by_image.items()}
    part = {"checkpoint": "last.pt", "epoch": 2, "threshold": 0.5, "images": images}
    return {"format": 1, "grid": "g", "reference": reference, "variant": variant,
            "overrides": [f"loss.objective={variant}"], "fold": fold, "seed": seed, "commit": "x",
            "trained_by": [],
            "config_hash": f"h{variant}", "epochs": 2, "wall_seconds": 60.0, "metrics": list(FIGURES),
            "primary": part, "secondary": {**part, "checkpoint": "best.pt"}}


def test_hand_computed_difference_and_mean():
    results = [_result("a", 0, 0, {"i1": 0.5, "i2": 0.6, "i3": 0.7}),
               _result("b", 0, 0, {"i1": 0.6, "i2": 0.6, "i3": 0.9})]
    table = ablation_table(results, n_resamples=200)
    assert table["reference"] == "a" and table["n_images"] == 3
    assert table["variants"]["a"]["metrics"]["dice"]["mean"] == pytest.approx(0.6)
    d = table["differences"]["b"]["dice"]
    assert d["mean_difference"] == pytest.approx(0.1) and (d["b_better"], d["a_better"]) == (2, 0)
    assert d["p_holm"] == d["p_value"]  # one variant: nothing to adjust
    # precision = 1 - dice: b is worse; betti_1_error is undefined everywhere: no pairs
    assert table["differences"]["b"]["precision"]["mean_difference"] == pytest.approx(-0.1)
    assert table["differences"]["b"]["betti_1_error"]["n"] == 0


def test_seeds_are_averaged_per_image_and_partial_folds_use_the_common_images():
    results = [_result("a", 0, s, {"i1": 0.5 + s / 10, "i2": 0.6}) for s in (0, 1)]
    results += [_result("a", 1, s, {"i3": 0.7}) for s in (0, 1)]
    results += [_result("b", 0, s, {"i1": 0.8, "i2": 0.6 + s / 10}) for s in (0, 1)]
    results += [_result("c", 0, 0, {"i1": 0.9, "i2": 0.9})]  # seed 1 and fold 1 not there yet
    table = ablation_table(results, n_resamples=200)
    assert table["n_images"] == 2 and table["n_pairs"] == 2 and table["seeds"] == [0]
    assert table["variants"]["a"]["images_scored"] == 3 and table["variants"]["a"]["folds"] == [0, 1]
    a, b, c = np.array([0.5, 0.6]), np.array([0.8, 0.6]), np.array([0.9, 0.9])
    expected = {v: paired_comparison(a, x, n_resamples=200).to_dict() for v, x in (("b", b), ("c", c))}
    for v in ("b", "c"):
        assert table["differences"][v]["dice"]["mean_difference"] == pytest.approx(
            expected[v]["mean_difference"])
        assert table["differences"][v]["dice"]["ci_low"] == pytest.approx(expected[v]["ci_low"])
    holm = holm_adjust([expected["b"]["p_value"], expected["c"]["p_value"]])
    assert [table["differences"][v]["dice"]["p_holm"] for v in ("b", "c")] == pytest.approx(holm)
    subset = ablation_table(results, variants=["b"], n_resamples=200)  # c left out: fold 1 counts
    assert list(subset["variants"]) == ["a", "b"] and subset["n_images"] == 2  # b lacks fold 1
    with pytest.raises(DataError, match="variant 'z' has no results; variants: a, b, c"):
        ablation_table(results, variants=["z"])
    # without c every seed of both folds pairs up: seeds averaged per image first
    table = ablation_table(results[:-1], n_resamples=200)
    assert table["n_images"] == 2 and table["seeds"] == [0, 1]
    assert table["variants"]["a"]["metrics"]["dice"]["mean"] == pytest.approx((0.55 + 0.6) / 2)


def test_errors():
    with pytest.raises(DataError, match="reference 'z' has no results; variants: a, b"):
        ablation_table([_result("a", 0, 0, {"i": 0.5}), _result("b", 0, 0, {"i": 0.5})], reference="z")
    with pytest.raises(DataError, match="no \\(image, seed\\) is scored for every variant"):
        ablation_table([_result("a", 0, 0, {"i": 0.5}), _result("b", 1, 0, {"j": 0.5})])
    with pytest.raises(DataError, match="two results of a fold 0 seed 0 with different configs"):
        twice = {**_result("a", 0, 0, {"i": 0.5}), "config_hash": "z"}
        ablation_table([_result("a", 0, 0, {"i": 0.5}), twice])


def test_files_round_trip_and_the_cli_writes_the_table(tmp_path, capsys):
    results = tmp_path / "out" / "results"
    for variant, dice in (("a", [0.5, 0.6, 0.7, 0.65]), ("b", [0.6, 0.62, 0.8, 0.7])):
        result = _result(variant, 0, 0, {f"i{k}": v for k, v in enumerate(dice)})
        write_result(result_path(results, Cell(Variant(variant, ()), 0, 0)), result)
    written = results / "a.fold0-seed0.json"
    assert read_result(written) == json.loads(written.read_text())
    assert [r["variant"] for r in read_results(tmp_path / "out")] == ["a", "b"]
    assert main(["ablate", "--table", str(tmp_path / "out"), "--reference", "b",
                 "--out", str(tmp_path / "table")]) == 0
    assert "## Paired differences to b" in capsys.readouterr().out
    for name in ("table.md", "table.json", "table.html", "forest.png"):
        assert (tmp_path / "table" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "table" / "table.json").read_text())
    assert saved["reference"] == "b" and saved["differences"]["a"]["dice"]["n"] == 4
    assert "forest.png" in (tmp_path / "table" / "table.html").read_text()


def test_the_cli_compares_variants_of_several_grids(tmp_path, capsys):
    for grid, variant, dice in (("one", "a", [0.5, 0.6, 0.7]), ("two", "c", [0.6, 0.7, 0.7])):
        result = _result(variant, 0, 0, {f"i{k}": v for k, v in enumerate(dice)})
        write_result(result_path(tmp_path / grid, Cell(Variant(variant, ()), 0, 0)), result)
    assert main(["ablate", "--table", str(tmp_path / "one"), str(tmp_path / "two")]) == 2
    assert "several folders needs --out" in capsys.readouterr().err
    assert main(["ablate", "--table", str(tmp_path / "one"), str(tmp_path / "two"), "--reference", "a",
                 "--out", str(tmp_path / "table")]) == 0
    saved = json.loads((tmp_path / "table" / "table.json").read_text())
    assert abs(saved["differences"]["c"]["dice"]["mean_difference"] - 0.0667) < 1e-3


def test_a_run_copied_into_a_grid_that_reuses_it_counts_once():
    reused = _result("a", 0, 0, {"i1": 0.5, "i2": 0.6})
    table = ablation_table([reused, dict(reused), _result("b", 0, 0, {"i1": 0.6, "i2": 0.6})],
                           n_resamples=50)
    assert table["variants"]["a"]["runs"] == 1 and table["n_results"] == 2
    assert table["wall_hours_total"] == round(2 * 60.0 / 3600, 2)


def test_write_table_handles_a_single_variant(tmp_path):
    table = ablation_table([_result("a", 0, 0, {"i": 0.5, "j": 0.7})], n_resamples=100)
    write_table(table, tmp_path)
    assert table["differences"] == {} and (tmp_path / "forest.png").is_file()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["ablate", "--table", str(tmp_path)]) == 2
    assert main(["ablate", "--grid", str(tmp_path / "g.yaml")]) == 2
    assert main(["ablate", "--grid", str(tmp_path / "g.yaml"), "--out", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("dskd: error: ") for line in lines)
    assert "grid file not found" in lines[2]


def test_the_method_interval_treats_folds_as_the_unit():
    # b beats a by 0.1 on every image of fold 0 and by 0.3 on fold 1: the fold means are the unit.
    results = [_result("a", 0, 0, {"i1": 0.5, "i2": 0.5}), _result("a", 1, 0, {"i3": 0.5, "i4": 0.5}),
               _result("b", 0, 0, {"i1": 0.6, "i2": 0.6}), _result("b", 1, 0, {"i3": 0.8, "i4": 0.8})]
    table = ablation_table(results, n_resamples=200)
    method = table["differences"]["b"]["dice"]["method"]
    assert method["mean_difference"] == pytest.approx(0.2) and method["n_units"] == 2
    assert method["standard_error"] == pytest.approx(0.1)  # sqrt(var([0.1, 0.3]) / 2)
    assert method["p_holm"] == method["p_value"]
