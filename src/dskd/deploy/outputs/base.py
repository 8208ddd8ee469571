"""What every output of `dskd predict` and `dskd serve` receives, and the one loop that feeds it.

An output is one class (Output): it is told when an input starts (start, with the input's
Source), receives each segmented frame (add), finishes the input's files (finish) or removes
what it wrote when the input fails (abort), and may write one file over the whole run
(end_run, e.g. the batch's lesion table). `applies_to` says which inputs it is for (a DICOM mask
only for DICOM files, a video only for cines). One object serves a run, one input at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.data.media import MediaInfo
from dskd.writing import temporary_path

__all__ = ["Output", "SegmentedFrame", "Source", "FileParts"]


@dataclass(frozen=True)
class SegmentedFrame:
    """One frame through the network. image, probabilities: float32 (H, W) in [0, 1]; mask: bool
    (H, W), probabilities >= threshold; index: from 1; ms: standardise, pad, network, crop,
    threshold (reading not included)."""

    index: int
    image: np.ndarray
    probabilities: np.ndarray
    mask: np.ndarray
    ms: float


@dataclass(frozen=True)
class Source:
    """The input being written: its file, its header, and where its outputs go (<base><suffix>,
    e.g. out/run1_mask.tif). fps: the frame rate to write videos at."""

    path: Path
    info: MediaInfo
    base: Path
    fps: float

    @property
    def cine(self) -> bool:
        return self.info.n_frames > 1


class Output:
    """One kind of output (module docstring). Subclasses override what they need."""

    def applies_to(self, info: MediaInfo) -> bool:
        return True

    def start(self, source: Source) -> None:
        """Before the input's first frame (open files, read its header)."""

    def add(self, frame: SegmentedFrame) -> None:
        """Each frame, in order."""

    def finish(self) -> None:
        """After the input's last frame: write what remains, give every file its final name."""

    def abort(self) -> None:
        """The input failed: remove what was written for it and not finished."""

    def end_run(self, out_dir: Path) -> None:
        """After the run's last input (files over the whole batch)."""


class FileParts:
    """Files written under temporary names of their own (hidden, unique to this process, so two
    runs never share one), renamed when finished and removed on abort: an input that fails
    half-way, or a run interrupted during it, leaves nothing behind that looks finished."""

    def __init__(self) -> None:
        self.parts: dict[Path, Path] = {}  # temporary name -> final name

    def new(self, final: Path) -> Path:
        part = temporary_path(final)
        self.parts[part] = final
        return part

    def final(self, part: Path) -> Path:
        return self.parts[part]

    def commit(self) -> None:
        for part, final in self.parts.items():
            os.replace(part, final)
        self.parts = {}

    def discard(self) -> None:
        for part in self.parts:
            part.unlink(missing_ok=True)
        self.parts = {}
