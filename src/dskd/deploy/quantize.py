"""int8 ONNX models: static quantisation in ONNX Runtime (`dskd export --int8`).

Weights are quantised per output channel (int8), activations per tensor (uint8) with ranges
calibrated on real frames passed through the same pipeline as every prediction (upscale to the
model's input scale, z-score, pad: dskd.inference), in ONNX Runtime's QDQ format; the first
convolution, which reads the image itself, stays in float32. ONNX Runtime does the quantisation;
written here is only what it needs fed: the calibration frames and the check. On the 2-core
development CPU int8 runs a 512x512 frame 1.1x faster at width 8 and 2x at width 16, its
out-of-fold Dice within 0.02 point of float32's at both widths (benchmarks/results/int8_onnx.md).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dskd.data.datasets import image_tensor
from dskd.data.media import iter_frames, probe
from dskd.data.resolution import upscale_image
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.inputs import collect_inputs
from dskd.errors import DataError, DskdError
from dskd.inference.backends import Net
from dskd.inference.probabilities import frame_probabilities
from dskd.metrics.overlap import confusion_counts, overlap_metrics

__all__ = ["calibration_frames", "quantize_onnx", "compare_quantized", "mask_dice", "MIN_MASK_DICE"]

log = logging.getLogger(__name__)

# A quantised model whose mask agrees with float32's by a Dice under this on a calibration frame
# is refused: rounding moves a few edge pixels, not whole vessels.
MIN_MASK_DICE = 0.98
SYNTHETIC_SIZE = 512


def calibration_frames(inputs: Sequence[str | Path] | None, *, count: int,
                       gray: str = "luma") -> list[np.ndarray]:
    """Up to `count` frames, float32 (H, W) in [0, 1]: the first frames of the image and DICOM
    files under `inputs` (files, folders, globs; a cine gives up to count / files frames), or,
    without inputs, synthetic angiograms of 512 px (a stand-in; the user's own frames calibrate
    better). Unreadable files are skipped with a warning; none readable is a DataError."""
    if count < 1:
        raise DskdError(f"--calibration-frames {count}: calibrate on at least 1 frame")
    if not inputs:
        return [synth_angiogram(np.random.default_rng(seed), SYNTHETIC_SIZE)[0] for seed in range(count)]
    files = [path for path, _ in collect_inputs(list(inputs))]
    per_file = max(1, -(-count // len(files)))
    frames: list[np.ndarray] = []
    for path in files:
        try:
            for index, frame in enumerate(iter_frames(probe(path), gray=gray)):
                if index >= per_file or len(frames) >= count:
                    break
                frames.append(frame)
        except DataError as error:
            log.warning("calibration: skipped %s", error)
        if len(frames) >= count:
            break
    if not frames:
        raise DataError(f"--calibration {' '.join(map(str, inputs))}: no readable frame")
    return frames


class _Frames:
    """ONNX Runtime's CalibrationDataReader protocol over the prepared frames."""

    def __init__(self, batches: list[np.ndarray], input_name: str) -> None:
        self.batches, self.input_name = iter(batches), input_name

    def get_next(self) -> dict | None:
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: batch}


def quantize_onnx(source: Path, out: Path, frames: Sequence[np.ndarray], *, size_multiple: int,
                  input_scale: int) -> None:
    """Write `out`, the int8 model of the float32 ONNX model `source`, calibrated on `frames`."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = [image_tensor(upscale_image(f, input_scale), size_multiple).numpy() for f in frames]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".dskd-quantize-") as work:
        prepared = Path(work) / "prepared.onnx"
        # ONNX Runtime's symbolic shape inference cannot follow a dynamic height and width through
        # the U-Net's skips; ONNX's own shape inference, which it then uses, can.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), _Frames(batches, "image"),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=_readers_of_the_image(prepared))


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean (H, W) masks, by the metrics' own definition (two empty masks: 1)."""
    counts = confusion_counts(torch.from_numpy(a)[None], torch.from_numpy(b)[None])
    return float(overlap_metrics(counts)["dice"][0])


def _readers_of_the_image(path: Path) -> list[str]:
    """The nodes that read the graph's input, kept in float32. The image in 256 steps loses faint
    thin vessels: on three trained CIMAT fold models the int8 masks agreed with float32's by a
    Dice of 0.96-0.98 with it quantised and 0.99 without (docs/inference.md)."""
    import onnx

    graph = onnx.load(str(path)).graph
    image = graph.input[0].name
    return [node.name for node in graph.node if image in node.input]


def compare_quantized(float_net: Net, int8_net: Net, frames: Sequence[np.ndarray], *,
                      threshold: float, name: str | Path) -> dict[str, float]:
    """Over `frames`, int8 against float32: the largest |dp|, the largest share of pixels whose
    mask changed, and the smallest Dice between the two masks. Raises DskdError when that Dice
    is under MIN_MASK_DICE."""
    worst_dp, worst_changed, worst_dice = 0.0, 0.0, 1.0
    for frame in frames:
        a, b = frame_probabilities(float_net, frame), frame_probabilities(int8_net, frame)
        mask_a, mask_b = a >= threshold, b >= threshold
        worst_dp = max(worst_dp, float(np.abs(a - b).max()))
        worst_changed = max(worst_changed, float((mask_a != mask_b).mean()))
        worst_dice = min(worst_dice, mask_dice(mask_a, mask_b))
    if not worst_dice >= MIN_MASK_DICE:
        raise DskdError(f"{name}: not written: the int8 model's mask agrees with float32's by a "
                        f"Dice of only {worst_dice:.3f} on a calibration frame (< {MIN_MASK_DICE:g}); "
                        "export without --int8, or calibrate on frames like those it will see "
                        "(--calibration)")
    return {"max_abs_dp": worst_dp, "max_mask_px_changed": worst_changed,
            "min_mask_dice": worst_dice}
