"""Grid files of `dskd ablate`: a base config, folds, seeds, a reference variant and the variants.

    base: cimat-cv.yaml            # relative to the grid file
    folds: [0, 1, 2, 3, 4]         # data.fold of each run (train on the others, validate on it)
    seeds: [0]                     # run.seed of each run
    reference: dice                # the variant every other one is compared with
    set: [loss.objective=dskd]     # optional: overrides of every variant, before its own
    variants:                      # an explicit list ...
      - {name: dice, set: [loss.objective=dice]}
    axes:                          # ... and/or a product of values: one variant per combination,
      loss.tau: [1, 3, 10]         # named <key><value> joined by '-', e.g. tau3
    reuse: [../results/x/results]  # optional: result folders of other grids whose runs equal
                                   # cells of this one (ablate.reuse), relative to the grid file

A cell is one (variant, fold, seed): one training run of `dskd train --config base --set ...`.
Errors are one line (GridError, shown by the CLI without a traceback).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dskd.errors import ConfigError, valid_options

__all__ = ["GridError", "Variant", "Cell", "Grid", "read_grid", "parse_grid"]

_KEYS = ("base", "folds", "seeds", "reference", "set", "variants", "axes", "description", "reuse")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")  # a folder name on every system
_OVERRIDE = re.compile(r"^[a-z_]+\.[A-Za-z_]+=.*$")


class GridError(ConfigError):
    """A grid file that cannot be run as written."""


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]  # `section.key=value`, the grid's common ones first


@dataclass(frozen=True)
class Cell:
    """One training run of the grid."""

    variant: Variant
    fold: int
    seed: int

    @property
    def key(self) -> str:
        """The run's folder below runs/<variant>/ and its result file's stem."""
        return f"fold{self.fold}-seed{self.seed}"

    @property
    def overrides(self) -> tuple[str, ...]:
        """The variant's overrides, then the cell's fold and seed (`--set` of `dskd train`)."""
        return (*self.variant.overrides, f"data.fold={self.fold}", f"run.seed={self.seed}")


@dataclass(frozen=True)
class Grid:
    name: str  # the grid file's stem, e.g. components
    path: Path
    base: Path  # the base config, absolute
    folds: tuple[int, ...]
    seeds: tuple[int, ...]
    reference: str
    variants: tuple[Variant, ...]
    description: str = ""
    reuse: tuple[Path, ...] = ()  # result folders of other grids (absolute)

    def cells(self) -> list[Cell]:
        """Every (variant, fold, seed), fold-major so that a partial grid covers whole folds."""
        return [Cell(v, fold, seed) for fold in self.folds for seed in self.seeds for v in self.variants]

    def only_folds(self, folds: list[int]) -> Grid:
        """The grid cut to some of its folds (a grid larger than one session, run a fold at a time)."""
        unknown = [k for k in folds if k not in self.folds]
        if unknown or not folds:
            raise GridError(f"{self.path}: --folds {','.join(map(str, folds))}: the grid's folds are "
                            f"{', '.join(map(str, self.folds))}")
        return dataclasses.replace(self, folds=tuple(k for k in self.folds if k in folds))

    def with_seeds(self, seeds: list[int]) -> Grid:
        """The grid run with these seeds instead of its own: seeds beyond the grid's add runs (a
        second seed for the comparisons whose interval is too wide), its own select some."""
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise GridError(f"{self.path}: --seeds {','.join(map(str, seeds))}: give distinct "
                            "seeds >= 0")
        return dataclasses.replace(self, seeds=tuple(seeds))

    def only_variants(self, names: list[str]) -> Grid:
        """The grid cut to some of its variants, in the grid's order (the ones that matter most
        first, when a session cannot run them all)."""
        unknown = [n for n in names if n not in self.names]
        if unknown or not names:
            raise GridError(f"{self.path}: --variants {','.join(names)}: no variant "
                            f"{', '.join(unknown) or '(none given)'}; variants: {', '.join(self.names)}")
        return dataclasses.replace(self, variants=tuple(v for v in self.variants if v.name in names))

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise GridError(f"{self.path}: no variant '{name}'; variants: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]


def _int_list(value: Any, key: str, where: Path) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        raise GridError(f"{where}: {key} must be a list of integers >= 0, got {value!r}")
    if len(set(values)) != len(values):
        raise GridError(f"{where}: {key} lists a value twice ({value!r})")
    return tuple(values)


def _overrides(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GridError(f"{where}: set must be a list of 'section.key=value' strings, got {value!r}")
    for text in value:
        if not _OVERRIDE.match(text):
            raise GridError(f"{where}: override '{text}' must look like section.key=value")
        if text.split("=", 1)[0] in ("data.fold", "run.seed"):
            raise GridError(f"{where}: '{text}': the grid sets data.fold and run.seed from folds "
                            "and seeds; remove it")
    return tuple(value)


def _axis_value(value: Any) -> str:
    """A YAML value as override text (and as part of a variant name)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise GridError(f"axis value {value!r} must be a number, a string or true/false")


def _axes_variants(axes: Any, common: tuple[str, ...], where: Path) -> list[Variant]:
    if not isinstance(axes, dict) or not axes:
        raise GridError(f"{where}: axes must map section.key to a list of values, e.g. "
                        "{loss.tau: [1, 3, 10]}")
    for key, values in axes.items():
        if not _OVERRIDE.match(f"{key}="):
            raise GridError(f"{where}: axis '{key}' must name section.key (e.g. loss.tau)")
        if not isinstance(values, list) or not values:
            raise GridError(f"{where}: axis {key} must list its values, got {values!r}")
    variants = []
    for combination in itertools.product(*axes.values()):
        texts = [_axis_value(v) for v in combination]
        name = "-".join(f"{key.split('.', 1)[1]}{text}" for key, text in zip(axes, texts, strict=True))
        overrides = tuple(f"{key}={text}" for key, text in zip(axes, texts, strict=True))
        variants.append(Variant(name, (*common, *overrides)))
    return variants


def _explicit_variants(listed: Any, common: tuple[str, ...], where: Path) -> list[Variant]:
    if not isinstance(listed, list) or not listed:
        raise GridError(f"{where}: variants must be a list of {{name: ..., set: [...]}}")
    variants = []
    for i, item in enumerate(listed):
        if not isinstance(item, dict) or "name" not in item:
            raise GridError(f"{where}: variant {i + 1} must be a mapping with a name and a set list")
        unknown = set(item) - {"name", "set"}
        if unknown:
            raise GridError(f"{where}: variant {item['name']}: unknown key '{sorted(unknown)[0]}'; "
                            "valid: name, set")
        name = str(item["name"])
        variants.append(Variant(name, (*common, *_overrides(item.get("set"), f"{where}: {name}"))))
    return variants


def parse_grid(raw: Any, path: str | Path) -> Grid:
    """A Grid from the grid file's parsed YAML; `path` places the relative base config."""
    path = Path(path)
    if not isinstance(raw, dict):
        raise GridError(f"{path}: a grid file is a mapping (base, folds, seeds, reference, variants)")
    for key in raw:
        if key not in _KEYS:
            raise GridError(f"{path}: unknown key '{key}'; {valid_options(str(key), list(_KEYS))}")
    for key in ("base", "folds", "seeds", "reference"):
        if key not in raw:
            raise GridError(f"{path}: missing '{key}'")
    if "variants" not in raw and "axes" not in raw:
        raise GridError(f"{path}: give variants (an explicit list) or axes (a product), or both")
    base = (path.parent / str(raw["base"])).resolve()
    if not base.is_file():
        raise GridError(f"{path}: base config {raw['base']} not found (looked at {base})")
    common = _overrides(raw.get("set"), str(path))
    variants = []
    if "variants" in raw:
        variants += _explicit_variants(raw["variants"], common, path)
    if "axes" in raw:
        variants += _axes_variants(raw["axes"], common, path)
    names = [v.name for v in variants]
    for name in names:
        if not _NAME.match(name):
            raise GridError(f"{path}: variant name '{name}' must be a folder name (letters, digits, "
                            "_ . + = -; no spaces or slashes)")
        if names.count(name) > 1:
            raise GridError(f"{path}: two variants are named '{name}'; names must differ")
    reuse = raw.get("reuse") or []
    if not isinstance(reuse, list) or not all(isinstance(v, str) for v in reuse):
        raise GridError(f"{path}: reuse must be a list of result folders, got {reuse!r}")
    reference = str(raw["reference"])
    if reference not in names:
        raise GridError(f"{path}: reference '{reference}' is not a variant; variants: {', '.join(names)}")
    return Grid(name=path.stem, path=path, base=base, folds=_int_list(raw["folds"], "folds", path),
                seeds=_int_list(raw["seeds"], "seeds", path), reference=reference,
                variants=tuple(variants), description=str(raw.get("description") or ""),
                reuse=tuple((path.parent / v).resolve() for v in reuse))


def read_grid(path: str | Path) -> Grid:
    """Read and validate a grid file (the configs of its cells are checked by runs.resolve_cell)."""
    path = Path(path)
    if not path.is_file():
        raise GridError(f"{path}: grid file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise GridError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    return parse_grid(raw, path)
