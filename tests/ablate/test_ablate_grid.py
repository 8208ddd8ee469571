"""Grid files of `dskd ablate`: variants from a list and from axes, cells, one-line errors."""

from pathlib import Path

import pytest
import yaml

from dskd.ablate.grid import GridError, parse_grid, read_grid
from dskd.ablate.runs import resolve_cell

GRIDS = Path(__file__).parents[2] / "benchmarks" / "ablations"


@pytest.fixture()
def base(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text("loss:\n  objective: dskd\n")
    return path


def _grid(base_file, **changes):
    raw = {"base": base_file.name, "folds": [0, 1], "seeds": [0], "reference": "dice",
           "variants": [{"name": "dice", "set": ["loss.objective=dice"]}], **changes}
    return parse_grid(raw, base_file.parent / "g.yaml")


def test_list_and_axes_make_the_variants_and_every_cell(base):
    grid = _grid(base, set=["optim.epochs=3"], axes={"loss.tau": [1, 3], "loss.ddl_form": ["softmax"]})
    assert grid.names == ["dice", "tau1-ddl_formsoftmax", "tau3-ddl_formsoftmax"]
    assert grid.variant("tau3-ddl_formsoftmax").overrides == (
        "optim.epochs=3", "loss.tau=3", "loss.ddl_form=softmax")
    cells = grid.cells()
    assert len(cells) == 3 * 2 and [c.fold for c in cells[:3]] == [0, 0, 0]
    assert cells[0].overrides == ("optim.epochs=3", "loss.objective=dice", "data.fold=0", "run.seed=0")
    assert cells[0].key == "fold0-seed0" and grid.base == base.resolve()


@pytest.mark.parametrize(("changes", "message"), [
    ({"reference": "dskd"}, "reference 'dskd' is not a variant; variants: dice"),
    ({"folds": [0, 0]}, "folds lists a value twice"),
    ({"seeds": [-1]}, "seeds must be a list of integers >= 0"),
    ({"seed": [0]}, "unknown key 'seed'"),
    ({"base": "nowhere.yaml"}, "base config nowhere.yaml not found"),
    ({"variants": [{"name": "dice"}, {"name": "dice"}]}, "two variants are named 'dice'"),
    ({"variants": [{"name": "a b"}]}, "variant name 'a b' must be a folder name"),
    ({"variants": [{"name": "dice", "set": ["loss.tau"]}]}, "override 'loss.tau' must look like"),
    ({"variants": [{"name": "dice", "set": ["data.fold=2"]}]}, "the grid sets data.fold and run.seed"),
    ({"variants": [{"name": "dice", "sets": []}]}, "unknown key 'sets'"),
    ({"axes": {"tau": [1]}}, "axis 'tau' must name section.key"),
    ({"reuse": "results"}, "reuse must be a list of result folders"),
])
def test_errors_are_one_line_and_name_the_problem(base, changes, message):
    with pytest.raises(GridError, match=message.replace("(", r"\(").replace("[", r"\[")) as error:
        _grid(base, **changes)
    assert "\n" not in str(error.value)


def test_unknown_key_suggests_the_valid_one(base):
    with pytest.raises(GridError, match="did you mean 'seeds'"):
        _grid(base, seedz=[0])


def test_a_bad_override_names_the_variant(base):
    grid = _grid(base, variants=[{"name": "dice", "set": ["loss.objektive=dice"]}])
    # The config file is named too: the key may come from it or from the variant's overrides.
    with pytest.raises(GridError, match=r"variant dice: .*base.yaml \(with the --set overrides\): "
                                        "unknown config key 'loss.objektive'"):
        resolve_cell(grid, grid.cells()[0])


# The *-cv.yaml files are the base configs the grids build on, not grids.
@pytest.mark.parametrize("path", sorted(p for p in GRIDS.glob("*.yaml") if not p.stem.endswith("-cv")),
                         ids=lambda p: p.stem)
def test_shipped_grids_resolve_every_cell(path):
    grid = read_grid(path)
    folds = range(4) if path.stem.startswith("drive") else range(5)  # DRIVE: 4 folds of 5 images
    assert grid.reference in grid.names and grid.folds == tuple(folds)
    configs = [resolve_cell(grid, cell) for cell in grid.cells()]
    # the width grid varies the width, the schedule grid adds width 16 at 2x steps, the bf16-budget
    # grid spends bf16's speed on width 16; all others: 8
    widths = {"width": {4, 8, 16}, "width32": {8, 16, 32}, "schedule": {8, 16},
              "bf16-budget": {8, 16}}.get(path.stem, {8})
    assert {c.data.fold for c in configs} == set(folds) and {c.model.width for c in configs} == widths


def test_components_grid_is_the_running_one():
    grid = read_grid(GRIDS / "components.yaml")
    # Committed results are named by these variants: new ones may be added, these stay.
    assert grid.names[:5] == ["dice", "dskd", "pskd", "ddl", "deep_supervision"] and grid.seeds == (0,)
    assert yaml.safe_load((GRIDS / "components.yaml").read_text())["base"] == "cimat-cv.yaml"


def test_only_variants_cuts_the_grid_in_its_order_and_names_its_variants(base):
    grid = _grid(base, axes={"loss.tau": [1, 3]})
    assert grid.names == ["dice", "tau1", "tau3"]
    assert grid.only_variants(["tau3", "dice"]).names == ["dice", "tau3"]
    with pytest.raises(GridError, match="--variants nope: no variant nope; variants: "):
        grid.only_variants(["nope"])


def test_only_folds_cuts_the_grid_and_names_its_folds(base):
    grid = _grid(base, folds=[0, 1, 2])
    assert [c.fold for c in grid.only_folds([2, 0]).cells()] == [0, 2]
    with pytest.raises(GridError, match="--folds 3: the grid's folds are 0, 1, 2"):
        grid.only_folds([3])


def test_with_seeds_adds_runs_beyond_the_grids_seeds(base):
    grid = _grid(base, folds=[0], seeds=[0]).with_seeds([1])
    assert grid.seeds == (1,) and {c.seed for c in grid.cells()} == {1}
    assert [c.key for c in grid.cells()] == ["fold0-seed1"] and "run.seed=1" in grid.cells()[0].overrides
    with pytest.raises(GridError, match="--seeds 1,1: give distinct seeds >= 0"):
        grid.with_seeds([1, 1])
