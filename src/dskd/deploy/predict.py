"""`dskd predict`: masks, probability maps, overlays and videos for image files, DICOM runs,
folders (recursive) and globs, streamed frame by frame.

A file that cannot be read is logged as one line (file: reason), listed in failed.txt and
skipped; the run goes on and the report says how many failed (the CLI then exits 1). A per-frame
summary.csv (file, frame, size, vessel area fraction, milliseconds per frame) is written as the
frames go, so nothing grows with the length of a run. What is written for each input is a list
of outputs (deploy.outputs: masks, probabilities, overlays, videos, DICOM masks, QCA), chosen from
the command line by deploy.outputs.choose_outputs; this module only segments and feeds them.

One run at a time per output folder (deploy.folder_lock): a second is refused with one line
naming the first one's pid. An output folder that cannot be written, or a disk that fills up,
stops the run with one line (DskdError); what was finished before stays (docs/errors.md).
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dskd.data.io import GrayRule
from dskd.data.media import MediaInfo, iter_frames, probe
from dskd.deploy.inputs import collect_inputs
from dskd.deploy.models import load_ensemble
from dskd.deploy.outputs import Output, SegmentedFrame, Source, choose_outputs, write_input
from dskd.errors import DataError, DskdError
from dskd.folder_lock import folder_lock
from dskd.inference import TTA, check_window, frame_probabilities
from dskd.inference.backends import Backend, Net
from dskd.inference.precision import Amp
from dskd.writing import atomic_path, make_output_folder, write_error

__all__ = ["predict_files", "segment_frames", "Segmenter", "SegmentedFrame",
           "PredictReport", "SUMMARY_FIELDS", "DEFAULT_WINDOW", "DEFAULT_FPS"]

log = logging.getLogger(__name__)

SUMMARY_FIELDS = ("file", "frame", "height", "width", "vessel_fraction", "ms_per_frame")
# Images with a side above this are tiled. Not the training crop (often 128): models are
# validated on whole angiograms of 300-512 px, and smaller tiles would only take context away.
DEFAULT_WINDOW = 512
DEFAULT_FPS = 15.0  # video frame rate when a file does not state its own


@dataclass
class PredictReport:
    """What a run did. n_files: files whose outputs were written; n_frames: frames predicted (the
    rows of summary.csv), those of a file that failed part-way included. failures: (file, reason)
    for every file that was skipped."""

    n_files: int = 0
    n_frames: int = 0
    seconds: float = 0.0
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)


def predict_files(model_path: str | Path | list[str | Path], inputs: list[str | Path],
                  out_dir: str | Path, outputs: list[Output] | None = None, *,
                  backend: Backend = "torch", threshold: float | None = None, device: str = "cpu",
                  amp: Amp = "auto", channels_last: bool = True, threads: int = 0, tta: TTA = "none",
                  window: int | None = DEFAULT_WINDOW, compile: bool = False) -> PredictReport:
    """Predict every input into out_dir (see the module docstring for the files written).

    model_path: a model, or a list of models whose probabilities are averaged (load_ensemble).
    outputs: what to write for each input (deploy.outputs.choose_outputs; None: its defaults,
    the mask and the overlay). threshold: None takes the model's own. tta: test-time augmentation
    (none, flips, dihedral). window: tile images with a side above it (None or 0: never tile).
    compile: the torch backend through torch.compile (inference.backends.TorchNet).
    Raises DskdError for problems with the run as a whole (model, options, inputs that do not
    exist, an output folder that cannot be written or is in use by another run); problems with
    one file are reported in PredictReport.failures.
    """
    outputs = outputs if outputs is not None else choose_outputs()
    out_dir = Path(out_dir)
    paths = model_path if isinstance(model_path, list) else [model_path]
    net, threshold, gray = load_ensemble(paths, backend=backend, device=device, amp=amp,
                                         channels_last=channels_last, threads=threads,
                                         threshold=threshold, compile=compile)
    items = collect_inputs(inputs, exclude=out_dir)
    segmenter = Segmenter(net, threshold=threshold, gray=gray, tta=tta,
                          window=check_window(window, net.size_multiple))
    make_output_folder(out_dir)
    with folder_lock(out_dir):
        report = _predict_into(segmenter, items, out_dir, outputs)
    log.info("%d files written, %d frames in %.1fs (%.1f frames/s), threshold %.2f, backend %s; "
             "%d failed", report.n_files, report.n_frames, report.seconds,
             report.n_frames / max(report.seconds, 1e-9), threshold, backend, len(report.failures))
    return report


@dataclass(frozen=True)
class Segmenter:
    """A net and how its frames are segmented (threshold, grey-level rule, TTA, tiling window)."""

    net: Net
    threshold: float
    gray: GrayRule
    tta: TTA = "none"
    window: int | None = DEFAULT_WINDOW  # already passed through check_window

    def frames(self, info: MediaInfo) -> Iterator[SegmentedFrame]:
        return segment_frames(self.net, info, threshold=self.threshold, gray=self.gray, tta=self.tta,
                              window=self.window)


def _predict_into(segmenter: Segmenter, items: list[tuple[Path, Path]], out_dir: Path,
                  outputs: list[Output]) -> PredictReport:
    """The run itself, in an output folder this process holds. failed.txt is written however the
    run ends (Ctrl-C included), listing the files that failed so far."""
    report = PredictReport()
    probed: list[tuple[MediaInfo, Path]] = []
    for path, key in items:  # headers only: frame counts for the progress bar, early failures
        try:
            probed.append((probe(path), key))
        except DataError as error:
            _fail(report, path, error)
    summary = out_dir / "summary.csv"
    start = time.perf_counter()
    try:
        with open(summary, "w", newline="") as handle, \
                tqdm(total=sum(info.n_frames for info, _ in probed), unit="frame", desc="predict",
                     disable=None) as bar:
            rows = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
            rows.writeheader()
            for info, key in probed:
                try:
                    _predict_one(segmenter, info, out_dir / key, outputs, rows, bar, report)
                except DataError as error:
                    _fail(report, info.path, error)
                    continue
                handle.flush()
                report.n_files += 1
                report.written.append(out_dir / key)
    except OSError as error:  # summary.csv: the outputs' own errors are DskdErrors already
        _write_failures(report, out_dir, quiet=True)
        raise write_error(error.filename or summary, error) from None
    except BaseException:
        _write_failures(report, out_dir, quiet=True)
        raise
    finally:
        report.seconds = time.perf_counter() - start
    _write_failures(report, out_dir)
    for output in outputs:
        output.end_run(out_dir)
    return report


def segment_frames(net: Net, info: MediaInfo, *, threshold: float, gray: GrayRule,
                   tta: TTA = "none", window: int | None = DEFAULT_WINDOW) -> Iterator[SegmentedFrame]:
    """The frames of a probed file through the net, one at a time, as `dskd predict` runs them
    (window: already passed through check_window). Raises DataError when a frame cannot be
    decoded or the file holds fewer frames than its header announces."""
    index = 0
    for index, image in enumerate(iter_frames(info, gray=gray), start=1):
        tick = time.perf_counter()
        probs = frame_probabilities(net, image, tta=tta, window=window)
        mask = probs >= threshold
        yield SegmentedFrame(index, image, probs, mask, 1000 * (time.perf_counter() - tick))
    if index != info.n_frames:
        raise DataError(f"{info.path}: {index} frames decoded, the header announces {info.n_frames}")


def _predict_one(segmenter: Segmenter, info: MediaInfo, base: Path, outputs: list[Output],
                 rows: csv.DictWriter, bar: tqdm, report: PredictReport) -> None:
    """Stream one file's frames through the net into the outputs and the summary rows; every
    frame done counts in report.n_frames, also when a later one fails."""

    def done(frame: SegmentedFrame) -> None:
        rows.writerow({"file": str(info.path), "frame": frame.index, "height": info.height,
                       "width": info.width, "vessel_fraction": f"{frame.mask.mean():.6f}",
                       "ms_per_frame": f"{frame.ms:.2f}"})
        report.n_frames += 1
        bar.update(1)

    source = Source(info.path, info, base, fps=info.fps or DEFAULT_FPS)
    write_input(segmenter.frames(info), outputs, source, on_frame=done)


def _fail(report: PredictReport, path: Path, error: DskdError) -> None:
    reason = str(error)
    reason = reason[len(str(path)) + 2:] if reason.startswith(f"{path}: ") else reason
    log.error("%s: %s (skipped)", path, reason)
    report.failures.append((path, reason))


def _write_failures(report: PredictReport, out_dir: Path, *, quiet: bool = False) -> None:
    """failed.txt lists this run's failures; an older one (from the previous run into this folder,
    whose summary.csv this run replaced) is removed when nothing failed. quiet: the run is already
    ending with an error, which a second one (the same full disk) must not hide."""
    failed = out_dir / "failed.txt"
    try:
        if report.failures:
            with atomic_path(failed) as tmp:
                tmp.write_text("".join(f"{path}\t{reason}\n" for path, reason in report.failures))
        else:
            failed.unlink(missing_ok=True)
    except (OSError, DskdError):
        if not quiet:
            raise
        log.error("%s: could not be written", failed)
