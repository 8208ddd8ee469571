"""Per-frame pictures: the mask, the probability map and the overlay.

For an image (one frame), next to `<name>`: <name>_mask.png (0/255), <name>_prob.png
(probability x 255), <name>_overlay.png. For a cine (several frames): <name>_mask.tif and
<name>_prob.tif, multi-page, one page a frame, appended to frame by frame (a cine's overlay is a
video: outputs.video).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from dskd.data.io import write_png
from dskd.data.media import MediaInfo
from dskd.deploy.outputs.base import FileParts, Output, SegmentedFrame, Source
from dskd.plots import overlay
from dskd.writing import write_error

__all__ = ["MaskOutput", "ProbabilityOutput", "OverlayOutput", "to_uint8"]


def to_uint8(probabilities: np.ndarray) -> np.ndarray:
    return (np.clip(probabilities, 0, 1) * 255 + 0.5).astype(np.uint8)


class _FramePicture(Output):
    """<base><suffix>.png for an image, <base><suffix>.tif (a page a frame) for a cine."""

    suffix = ""
    page_options: dict[str, Any] = {}  # tifffile's write options for a cine's pages

    def picture(self, frame: SegmentedFrame) -> np.ndarray:
        raise NotImplementedError

    def start(self, source: Source) -> None:
        self.source, self.parts, self.tiff = source, FileParts(), None
        if source.cine:
            import tifffile

            self.tiff = tifffile.TiffWriter(self.parts.new(_named(source, self.suffix + ".tif")))

    def add(self, frame: SegmentedFrame) -> None:
        if self.tiff is not None:
            # Without tifffile's own metadata, readers (tifffile included) see the equal-sized pages
            # as one (frames, H, W) stack.
            self.tiff.write(self.picture(frame), metadata=None, **self.page_options)
            return
        part = self.parts.new(_named(self.source, self.suffix + ".png"))
        try:
            write_png(part, self.picture(frame), atomic=False)
        except OSError as error:  # named as the user will look for it, not by its temporary name
            raise write_error(self.parts.final(part), error) from None

    def finish(self) -> None:
        if self.tiff is not None:
            self.tiff.close()
            self.tiff = None
        self.parts.commit()

    def abort(self) -> None:
        if self.tiff is not None:
            with contextlib.suppress(Exception):
                self.tiff.close()
            self.tiff = None
        self.parts.discard()


def _named(source: Source, suffix: str):  # noqa: ANN202 (a Path)
    return source.base.with_name(source.base.name + suffix)


class MaskOutput(_FramePicture):
    """The vessel mask, 0/255."""

    suffix = "_mask"
    # zlib level 1 shrinks a 512x512 mask 40-fold in about 1 ms a frame.
    page_options = {"compression": "zlib", "compressionargs": {"level": 1}}

    def picture(self, frame: SegmentedFrame) -> np.ndarray:
        return frame.mask.astype(np.uint8) * 255


class ProbabilityOutput(_FramePicture):
    """The probability map x 255. Not compressed: maps barely compress (zlib level 1: 30% smaller
    for 8 ms a frame)."""

    suffix = "_prob"

    def picture(self, frame: SegmentedFrame) -> np.ndarray:
        return to_uint8(frame.probabilities)


class OverlayOutput(_FramePicture):
    """The mask over the image (outputs.video for a cine)."""

    suffix = "_overlay"

    def applies_to(self, info: MediaInfo) -> bool:
        return info.n_frames == 1

    def picture(self, frame: SegmentedFrame) -> np.ndarray:
        return overlay(frame.image, frame.mask)
