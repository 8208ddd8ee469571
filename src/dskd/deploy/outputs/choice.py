"""Which outputs a run writes (from its options) and the loop that feeds one input to them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dskd.deploy.outputs.base import Output, SegmentedFrame, Source
from dskd.deploy.outputs.dicom import DicomMaskOutput
from dskd.deploy.outputs.images import MaskOutput, OverlayOutput, ProbabilityOutput
from dskd.deploy.outputs.qca import QCAOutput
from dskd.deploy.outputs.video import VideoFormat, VideoOutput
from dskd.deploy.qca_writer import QCASettings
from dskd.writing import write_error

__all__ = ["choose_outputs", "write_input"]


def choose_outputs(*, probabilities: bool = False, overlays: bool = True,
                   video: VideoFormat | None = None, dicom_seg: bool = False,
                   qca: QCASettings | None = None) -> list[Output]:
    """The outputs of `dskd predict`'s options, the mask always. Finished in this order: the
    outputs most likely to refuse an input (the DICOM mask's header checks, the QCA's frame)
    first, so that a refused input leaves none of its files behind."""
    outputs: list[Output] = []
    if dicom_seg:
        outputs.append(DicomMaskOutput())
    if qca is not None:
        outputs.append(QCAOutput(qca))
    outputs.append(MaskOutput())
    if probabilities:
        outputs.append(ProbabilityOutput())
    if overlays:
        outputs.append(OverlayOutput())
    if video is not None:
        outputs.append(VideoOutput(video))  # fails here, before any work, when it cannot be written
    return outputs


def write_input(frames: Iterable[SegmentedFrame], outputs: list[Output], source: Source,
                on_frame: Callable[[SegmentedFrame], None] | None = None) -> None:
    """Feed one input's frames to the outputs that apply to it, then finish them; `on_frame` sees
    each frame after the outputs (summary rows, progress, deadlines). When anything fails, every
    started output is aborted (its unfinished files removed) and the error goes on; an OSError
    becomes one line naming the files (DskdError)."""
    active = [o for o in outputs if o.applies_to(source.info)]
    started: list[Output] = []
    try:
        source.base.parent.mkdir(parents=True, exist_ok=True)
        for output in active:
            started.append(output)  # before start: one that fails half-way has files to remove
            output.start(source)
    except OSError as error:
        _abort(started)
        raise write_error(error.filename or source.base.parent, error) from None
    except BaseException:
        _abort(started)
        raise
    try:
        for frame in frames:
            for output in active:
                output.add(frame)
            if on_frame is not None:
                on_frame(frame)
        for output in active:
            output.finish()
    except OSError as error:
        _abort(started)
        raise write_error(f"{source.base}_*", error) from None
    except BaseException:
        _abort(started)
        raise


def _abort(outputs: list[Output]) -> None:
    for output in outputs:
        output.abort()
