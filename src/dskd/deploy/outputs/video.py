"""A cine's overlay as a video (MP4 through ffmpeg, or GIF), fed one frame at a time."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Literal

import numpy as np

from dskd.data.media import MediaInfo
from dskd.deploy.outputs.base import FileParts, Output, SegmentedFrame, Source
from dskd.errors import DskdError
from dskd.plots import overlay

__all__ = ["VideoOutput", "VideoFormat", "VIDEO_FORMATS", "check_video_support"]

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


class VideoOutput(Output):
    """A cine's overlay as a video, <base>_overlay.mp4 or .gif, at the acquisition's frame rate."""

    def __init__(self, video: VideoFormat) -> None:
        check_video_support(video)
        self.format = video

    def applies_to(self, info: MediaInfo) -> bool:
        return info.n_frames > 1

    def start(self, source: Source) -> None:
        self.parts = FileParts()
        part = self.parts.new(source.base.with_name(f"{source.base.name}_overlay.{self.format}"))
        self.video = (_Mp4(part, source.info.height, source.info.width, source.fps)
                      if self.format == "mp4" else _Gif(part, source.fps))

    def add(self, frame: SegmentedFrame) -> None:
        self.video.add(overlay(frame.image, frame.mask))

    def finish(self) -> None:
        self.video.close()
        self.parts.commit()

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # a half-fed encoder may complain; its file goes anyway
            self.video.close()
        self.parts.discard()
