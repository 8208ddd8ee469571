"""The files `dskd predict` writes for one input, fed one frame at a time.

For an image (one frame), next to `<name>`:
    <name>_mask.png (0/255), <name>_prob.png (optional, probability x 255), <name>_overlay.png
For a cine (several frames):
    <name>_mask.tif and <name>_prob.tif (multi-page, one page per frame),
    <name>_overlay.mp4 or .gif (optional), at the acquisition's frame rate.

Every output is written under a temporary name of its own (hidden, unique to this process, so
two runs never share one) and renamed when the last frame is in; `abort()` removes them, so a
file that fails half-way (or a run interrupted during it) leaves nothing behind that looks
finished. Multi-page files and videos are appended to frame by frame.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

import numpy as np

from dskd.data.io import write_png
from dskd.errors import DskdError
from dskd.plots import overlay
from dskd.writing import temporary_path, write_error

__all__ = ["OutputWriter", "VideoFormat", "VIDEO_FORMATS", "check_video_support"]

VideoFormat = Literal["mp4", "gif"]
VIDEO_FORMATS: tuple[str, ...] = ("mp4", "gif")


def check_video_support(video: VideoFormat | None) -> None:
    """Fail before any work when the chosen video format cannot be written here."""
    if video is None:
        return
    if video not in VIDEO_FORMATS:
        raise DskdError(f"video format '{video}' is not one of {', '.join(VIDEO_FORMATS)}")
    if video == "mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise DskdError("--video mp4 needs imageio-ffmpeg: pip install 'dskd[video]' "
                            "(or use --video gif)") from None


class _Mp4:
    """H.264 through the ffmpeg binary that the imageio-ffmpeg wheel ships; frames are piped to it
    one by one, nothing is kept."""

    def __init__(self, path: Path, height: int, width: int, fps: float) -> None:
        import imageio_ffmpeg

        # yuv420p (what every player decodes) needs even sides: frames get one edge row/column.
        self.height, self.width = height + height % 2, width + width % 2
        self.writer = imageio_ffmpeg.write_frames(str(path), (self.width, self.height), fps=fps,
                                                  codec="libx264", macro_block_size=1, quality=7,
                                                  output_params=["-f", "mp4"])
        self.writer.send(None)

    def add(self, rgb: np.ndarray) -> None:
        pad = ((0, self.height - rgb.shape[0]), (0, self.width - rgb.shape[1]), (0, 0))
        self.writer.send(np.ascontiguousarray(np.pad(rgb, pad, mode="edge")))

    def close(self) -> None:
        self.writer.close()


class _Gif:
    """Pillow writes a GIF only once it has every frame, so frames are kept, as 8-bit palette
    images (1 byte per pixel): prefer MP4 for runs of thousands of frames."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.duration_ms, self.frames = path, max(20, round(1000 / fps)), []

    def add(self, rgb: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(rgb).quantize(colors=256, dither=Image.Dither.NONE))

    def close(self) -> None:
        first, *rest = self.frames
        first.save(self.path, format="GIF", save_all=True, append_images=rest,
                   duration=self.duration_ms, loop=0)
        self.frames = []


class OutputWriter:
    """Writes the outputs of one input, named `<base>_mask...`, frame by frame.

    base: output path without suffix (e.g. out/run1); cine: several frames (multi-page outputs);
    fps: frame rate of the video.
    """

    def __init__(self, base: Path, *, cine: bool, height: int, width: int, probabilities: bool = False,
                 overlays: bool = True, video: VideoFormat | None = None, fps: float = 15.0) -> None:
        self.base, self.cine = base, cine
        self.probabilities, self.overlays = probabilities, overlays
        self.parts: dict[Path, Path] = {}  # temporary name -> final name
        self.open: list = []
        base.parent.mkdir(parents=True, exist_ok=True)
        if cine:
            try:
                self._open_cine(height, width, probabilities, video, fps)
            except BaseException:
                self.abort()
                raise

    def _open_cine(self, height: int, width: int, probabilities: bool, video: VideoFormat | None,
                   fps: float) -> None:
        import tifffile

        self.mask_tiff = tifffile.TiffWriter(self._part("_mask.tif"))
        self.open.append(self.mask_tiff)
        self.prob_tiff = tifffile.TiffWriter(self._part("_prob.tif")) if probabilities else None
        if self.prob_tiff is not None:
            self.open.append(self.prob_tiff)
        self.video = None
        if video == "mp4":
            self.video = _Mp4(self._part("_overlay.mp4"), height, width, fps)
        elif video == "gif":
            self.video = _Gif(self._part("_overlay.gif"), fps)
        if self.video is not None:
            self.open.append(self.video)

    def _part(self, suffix: str) -> Path:
        final = self.base.with_name(self.base.name + suffix)
        part = temporary_path(final)
        self.parts[part] = final
        return part

    def add(self, image: np.ndarray, probabilities: np.ndarray, mask: np.ndarray) -> None:
        """image, probabilities: float32 (H, W) in [0, 1]; mask: bool (H, W)."""
        if not self.cine:
            self._write_single(image, probabilities, mask)
            return
        # Without tifffile's own metadata, readers (tifffile included) see the equal-sized pages as
        # one (frames, H, W) stack. zlib level 1 shrinks a 512x512 mask 40-fold in about 1 ms;
        # probability maps barely compress (level 1: 30% smaller for 8 ms a frame), so they do not.
        self.mask_tiff.write(mask.astype(np.uint8) * 255, metadata=None, compression="zlib",
                             compressionargs={"level": 1})
        if self.prob_tiff is not None:
            self.prob_tiff.write(_to_uint8(probabilities), metadata=None)
        if self.video is not None:
            self.video.add(overlay(image, mask))

    def _write_single(self, image: np.ndarray, probabilities: np.ndarray, mask: np.ndarray) -> None:
        images = {"_mask.png": mask}
        if self.probabilities:
            images["_prob.png"] = _to_uint8(probabilities)
        if self.overlays:
            images["_overlay.png"] = overlay(image, mask)
        for suffix, array in images.items():
            part = self._part(suffix)
            try:
                write_png(part, array, atomic=False)
            except OSError as error:  # named as the user will look for it, not by its temporary name
                raise write_error(self.parts[part], error) from None

    def close(self) -> None:
        """Finish every file and give it its final name."""
        for handle in self.open:
            handle.close()
        self.open = []
        for part, final in self.parts.items():
            os.replace(part, final)
        self.parts = {}

    def abort(self) -> None:
        """Close and delete what was written so far (the input failed part-way)."""
        for handle in self.open:
            # A half-fed encoder may complain on closing; its file is deleted anyway.
            with contextlib.suppress(Exception):
                handle.close()
        self.open = []
        for part in self.parts:
            part.unlink(missing_ok=True)
        self.parts = {}


def _to_uint8(probabilities: np.ndarray) -> np.ndarray:
    return (np.clip(probabilities, 0, 1) * 255 + 0.5).astype(np.uint8)
