"""What `dskd predict` is given: files, folders searched recursively, and glob patterns."""

from __future__ import annotations

import glob
from pathlib import Path

from dskd.data.media import MEDIA_SUFFIXES, is_media_file
from dskd.errors import DataError

__all__ = ["collect_inputs"]

_GLOB_CHARS = set("*?[")


def _expand(item: str) -> list[Path]:
    path = Path(item)
    if path.exists() or not _GLOB_CHARS & set(item):
        return [path]
    matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
    if not matches:
        raise DataError(f"{item}: no files match this pattern")
    return matches


def collect_inputs(inputs: list[str | Path], *, exclude: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, output key) for every input: files as named, image/DICOM files found recursively
    in folders, and glob patterns (`**` recurses). The key is the output name without suffix:
    the file's stem, or its path relative to the folder it was found in.

    Files inside `exclude` (the output folder) are skipped. Raises DataError for a missing path,
    a pattern or folder that yields nothing, or two inputs that would write the same outputs.
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        for path in _expand(str(item)):
            if path.is_dir():
                inside = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                                and is_media_file(p) and not _is_within(p, exclude))
                if not inside:
                    raise DataError(f"{path}: no images or DICOM files found (searched recursively)")
                found.extend((p, _output_key(p.relative_to(path))) for p in inside)
            elif path.is_file():
                found.append((path, _output_key(Path(path.name))))
            else:
                raise DataError(f"{path}: file not found")
    owners: dict[Path, Path] = {}
    for path, key in found:
        if key in owners and owners[key] != path:
            raise DataError(f"{owners[key]} and {path} would both write {key}_*; rename one or "
                            "predict them into different --out folders")
        owners[key] = path
    return list({path: (path, key) for path, key in found}.values())  # a file named twice runs once


def _output_key(relative: Path) -> Path:
    """The output name: the path without its suffix when that is a file type's (IM0001.dcm ->
    IM0001), whole otherwise (a DICOM named by its UID, 1.2.840.113619.2.5, keeps every part)."""
    return relative.with_suffix("") if relative.suffix.lower() in MEDIA_SUFFIXES else relative


def _is_within(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder.resolve())
