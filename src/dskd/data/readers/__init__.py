"""Dataset readers: each turns a dataset root into a list of Cases. Registered by layout name.

A layout is a reader name, optionally with options after a colon (what `data.layout` in a config
and `--layout` on the command line take):

    folder                      images/ and masks/ with matching names
    folder:mask_suffix=_gt      masks/<name>_gt.png
    dca1  xcad  cimat  drive    the datasets as their authors ship them (docs/datasets.md)
    arcade                      ARCADE syntax task: masks rasterised from the COCO polygons
    arcade:mask_dir=DIR         ... cached under DIR instead of inside the dataset folder
    drive:gray=luma             any reader: colour to grayscale by luma or green channel
    nnunet:foreground_label=2   nnU-Net raw 2-D layout with more than one foreground label

Case names are unique within what a reader returns; split files name cases by them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dskd.data.cases import Case
from dskd.data.io import GRAY_RULES
from dskd.data.readers.arcade import read_arcade
from dskd.data.readers.cimat import read_cimat
from dskd.data.readers.common import list_images, natural_key
from dskd.data.readers.dca1 import read_dca1
from dskd.data.readers.drive import read_drive
from dskd.data.readers.folder import read_folder
from dskd.data.readers.nnunet import read_nnunet
from dskd.data.readers.xcad import read_xcad
from dskd.errors import DataError, valid_options

__all__ = [
    "READERS",
    "READER_OPTIONS",
    "read_cases",
    "parse_layout",
    "gray_rule",
    "read_folder",
    "read_dca1",
    "read_xcad",
    "read_cimat",
    "read_drive",
    "read_nnunet",
    "read_arcade",
    "list_images",
    "natural_key",
]

READERS: dict[str, Callable[..., list[Case]]] = {
    "folder": read_folder,
    "dca1": read_dca1,
    "xcad": read_xcad,
    "cimat": read_cimat,
    "drive": read_drive,
    "nnunet": read_nnunet,
    "arcade": read_arcade,
}


def _gray(text: str) -> str:
    if text not in GRAY_RULES:
        raise ValueError(f"one of {', '.join(GRAY_RULES)}")
    return text


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("an integer") from None


# Options each reader takes as keyword arguments, with the parser of their text value.
READER_OPTIONS: dict[str, dict[str, Callable[[str], Any]]] = {
    "folder": {"mask_suffix": str},
    "nnunet": {"foreground_label": _integer},
    "arcade": {"mask_dir": str},
}
_COMMON_OPTIONS: dict[str, Callable[[str], Any]] = {"gray": _gray}  # applied by read_cases
# Readers whose cases use another grayscale rule than luma (they set it on their Cases).
_DEFAULT_GRAY = {"drive": "green"}


def parse_layout(layout: str) -> tuple[str, dict[str, Any]]:
    """"name" or "name:key=value,key=value" -> (reader name, parsed options); errors name the fix."""
    name, _, option_text = layout.partition(":")
    name = name.strip()
    if name not in READERS:
        raise DataError(f"unknown dataset layout '{name}'; {valid_options(name, list(READERS))}")
    parsers = {**READER_OPTIONS.get(name, {}), **_COMMON_OPTIONS}
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in option_text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise DataError(f"layout '{layout}': option '{item}' must look like key=value")
        if key not in parsers:
            raise DataError(f"layout '{layout}': unknown option '{key}' for '{name}'; "
                            f"{valid_options(key, sorted(parsers))}")
        try:
            options[key] = parsers[key](value.strip())
        except ValueError as error:
            raise DataError(f"layout '{layout}': {key}={value.strip()!r} must be {error}") from None
    return name, options


def gray_rule(layout: str) -> str:
    """The colour-to-grayscale rule the cases of `layout` use ("luma" or "green"), so that images
    read outside a reader (dskd predict) can be converted the way the model was trained."""
    name, options = parse_layout(layout)
    return options.get("gray", _DEFAULT_GRAY.get(name, "luma"))


def read_cases(layout: str, root: str | Path) -> list[Case]:
    """All cases of the dataset at `root` in the given layout (see the module docstring)."""
    name, options = parse_layout(layout)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    gray = options.pop("gray", None)
    cases = READERS[name](root, **options)
    if not cases:
        raise DataError(f"{root}: no cases found in layout '{name}'")
    if gray is not None:
        cases = [dataclasses.replace(c, gray=gray) for c in cases]
    repeated = [n for n, count in Counter(c.name for c in cases).items() if count > 1]
    if repeated:
        raise DataError(f"{root}: case name '{repeated[0]}' appears more than once in layout "
                        f"'{name}'; rename one of the files")
    return cases
