"""benchmarks/cimat_recipe.py: candidate recipes are compared out of fold; only the best is tested."""

import json
from pathlib import Path

import numpy as np

from dskd.data.cases import CaseArrays
from tests.benchmark_scripts import load_benchmark


def _predictions(noise: float) -> tuple[list, list]:
    """Four 16x16 cases with a square vessel, and probabilities off the mask by `noise`."""
    rng = np.random.default_rng(0)
    cases, probabilities = [], []
    for k in range(4):
        mask = np.zeros((16, 16), bool)
        mask[4:12, 4 + k:8 + k] = True
        cases.append(CaseArrays(f"c{k}", mask.astype(np.float32), mask, None))
        probabilities.append(np.clip(mask + noise * rng.standard_normal(mask.shape), 0, 1))
    return cases, probabilities


def test_the_candidate_with_the_best_out_of_fold_figure_is_the_only_one_tested(tmp_path, monkeypatch):
    module = load_benchmark("cimat_recipe")
    noise = {"good": 0.2, "poor": 0.6}
    monkeypatch.setattr(module, "fold_models", lambda runs: {0: runs / "fold0-seed0" / "last.pt"})
    monkeypatch.setattr(module, "out_of_fold", lambda models, data: {
        tta: _predictions(noise[next(iter(models.values())).parents[1].name]) for tta in module.TTAS})
    tested = []

    class Summary:
        n_images, per_image, pooled = 20, {}, {}

    def evaluate(models, *args, **kwargs):
        tested.append((models, kwargs["threshold"], kwargs["tta"]))
        return Summary()

    monkeypatch.setattr(module, "evaluate_checkpoint", evaluate)
    out = tmp_path / "recipe"
    assert module.main(["--runs", str(tmp_path / "poor"), str(tmp_path / "good"), "--out", str(out)]) == 0
    result = json.loads((out / "recipe.json").read_text())
    assert result["runs"] == str(tmp_path / "good") and len(result["candidates"]) == 2
    poor, good = (c["out_of_fold_dice_at_chosen"] for c in result["candidates"])
    assert good > poor
    assert [models for models, _, _ in tested] == [[str(tmp_path / "good" / "fold0-seed0" / "last.pt")]]
    assert tested[0][1:] == (result["chosen_threshold"], result["chosen_tta"])

    tested.clear()
    module.main(["--runs", str(tmp_path / "good"), "--out", str(out), "--out-of-fold-only"])
    assert not tested and "test" not in json.loads((out / "recipe.json").read_text())


def test_the_shipped_recipe_config_is_the_run_chosen_out_of_fold():
    """configs/cimat-recipe.yaml trains, fold by fold, exactly the runs of the schedule grid's
    dskd_4x_steps (the candidate chosen in benchmarks/results/cimat-recipe-dskd4x/recipe.json)."""
    from dskd.ablate.grid import read_grid
    from dskd.ablate.runs import config_hash, resolve_cell

    module = load_benchmark("cimat_recipe")
    chosen = json.loads((module.REPO / "benchmarks/results/cimat-recipe-dskd4x/recipe.json").read_text())
    assert chosen["runs"].endswith("cimat-schedule/runs/dskd_4x_steps")
    recipe = module.grid_of_config(module.REPO / "configs" / "cimat-recipe.yaml")
    schedule = read_grid(module.REPO / "benchmarks/ablations/schedule.yaml").only_variants(["dskd_4x_steps"])
    ours = {c.fold: config_hash(resolve_cell(recipe, c)) for c in recipe.cells()}
    theirs = {c.fold: config_hash(resolve_cell(schedule, c)) for c in schedule.cells()}
    assert sorted(ours) == [0, 1, 2, 3, 4] and ours == theirs


def test_config_trains_its_five_fold_models_then_chooses(tmp_path, monkeypatch):
    module = load_benchmark("cimat_recipe")
    config = tmp_path / "my-recipe.yaml"
    config.write_text("base: " + str(module.REPO / "configs" / "cimat-recipe.yaml") + "\n")
    launched = []

    def run_grid(grid, out, *, jobs, results):
        launched.append(([c.key for c in grid.cells()], Path(out), Path(results)))
        return [], []

    chosen = []
    monkeypatch.setattr(module, "run_grid", run_grid)
    monkeypatch.setattr(module, "choose_out_of_fold", lambda runs, data: chosen.append(runs) or {
        "runs": str(runs), "out_of_fold_dice_at_chosen": 0.7, "models": []})
    out = tmp_path / "out"
    assert module.main(["--config", str(config), "--out", str(out), "--out-of-fold-only"]) == 0
    assert launched == [([f"fold{k}-seed0" for k in range(5)], out / "folds", out / "folds" / "results")]
    assert chosen == [out / "folds" / "runs" / "my-recipe"]
    assert json.loads((out / "recipe.json").read_text())["command"].startswith(
        f"python benchmarks/cimat_recipe.py --config {config}")
