"""ONNX export of a checkpoint: probabilities out, dynamic batch, height and width.

    dskd export runs/cimat/best.pt --out model.onnx
    dskd export runs/cimat/best.pt --out model-int8.onnx --int8 --calibration frames/   # int8

The graph is the network plus its sigmoid, nothing else: upscaling, standardisation and
padding to the network's multiple stay in Python (dskd.inference), shared by both backends, so
PyTorch and ONNX Runtime see identical inputs. The ONNX file carries, as metadata, what a
predictor needs besides the weights: the size multiple, the input scale, the decision threshold
and the config (and, for int8, how it was quantised: dskd.deploy.quantize).
It is written whole or not at all: graph, metadata and check on a temporary file, then renamed.

We use the TorchScript-based exporter (dynamo=False). The newer torch.export-based one needs the
extra `onnxscript` package, does not exist in the same form across the torch>=2.2 range this
package allows, and would have to be told that H and W are multiples of 2**depth; a U-Net is a
plain convolutional graph that the TorchScript exporter traces exactly with dynamic axes.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dskd import __version__
from dskd.checkpoint import load_model
from dskd.config import config_to_dict
from dskd.errors import DskdError
from dskd.inference.backends import ONNX_METADATA_KEY, OnnxNet
from dskd.models.wrappers import unwrap
from dskd.writing import atomic_path, make_output_folder, temporary_path

__all__ = ["ProbabilityNet", "export_onnx", "export_model", "check_onnx", "OPSET"]

log = logging.getLogger(__name__)

OPSET = 17  # ConvTranspose, MaxPool, Concat, Sigmoid: supported by every ONNX Runtime since 1.12


class ProbabilityNet(nn.Module):
    """The main head's probabilities, no side outputs: (B, 1, H, W) -> (B, 1, H, W) in [0, 1]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tensor:
        return torch.sigmoid(self.model(image, with_side_outputs=False).logits)


def export_onnx(checkpoint: str | Path, out: str | Path, *, check: bool = True, int8: bool = False,
                calibration: Sequence[str | Path] | None = None, calibration_frames: int = 16) -> Path:
    """Write `out` (an ONNX model) from a dskd checkpoint; with `check`, verify it against PyTorch
    at two sizes and two batch sizes (raises DskdError when they disagree by more than 1e-4).
    int8: quantise it, calibrated on up to `calibration_frames` frames of the files under
    `calibration` (default: synthetic angiograms; dskd.deploy.quantize)."""
    _check_target(Path(out))  # before loading: a wrong --out fails at once
    model, config, threshold = load_model(checkpoint)
    frames = None
    if int8:
        from dskd.data.readers import gray_rule
        from dskd.deploy.quantize import calibration_frames as read_frames

        frames = read_frames(calibration, count=calibration_frames, gray=gray_rule(config.data.layout))
    return export_model(model, out, threshold=threshold, config=config_to_dict(config),
                        source=str(checkpoint), check=check, int8_frames=frames)


def _check_target(out: Path) -> None:
    if out.is_dir():
        raise DskdError(f"--out {out}: is a folder; name the file to write, e.g. {out / 'model.onnx'}")
    if out.suffix.lower() != ".onnx":
        raise DskdError(f"--out {out}: name the file *.onnx (dskd predict tells exported models "
                        "from checkpoints by this suffix)")
    make_output_folder(out.parent, "the folder of --out")


def export_model(model: nn.Module, out: str | Path, *, threshold: float = 0.5,
                 config: dict | None = None, source: str = "", check: bool = True,
                 int8_frames: Sequence[np.ndarray] | None = None) -> Path:
    """Write `out` from a model in memory (see export_onnx); the model itself is left untouched.

    The graph, its metadata and the check all happen on a temporary file beside `out`, renamed
    onto it only when all three succeeded: an existing `out` survives a failed or interrupted
    export, and no model that failed its check is left behind. With int8_frames the checked
    float32 graph is then quantised, and the int8 model is checked against it on those frames.
    """
    net = ProbabilityNet(copy.deepcopy(unwrap(model)).cpu()).eval()
    multiple, scale = unwrap(model).size_multiple, int(unwrap(model).input_scale)
    out = Path(out)
    _check_target(out)
    metadata = {"size_multiple": multiple, "input_scale": scale, "threshold": threshold,
                "config": config or {}, "dskd_version": __version__, "source": source}
    with atomic_path(out) as tmp:
        _write_graph(net, tmp, multiple)
        _attach_metadata(tmp, metadata)
        if check:
            error = check_onnx(net, tmp, name=out)
            log.info("exported %s (max |PyTorch - ONNX Runtime| = %.2e over two sizes and batches)",
                     out, error)
        if int8_frames is not None:
            _quantize(tmp, out, int8_frames, metadata, check=check)
    return out


def _write_graph(net: nn.Module, path: Path, multiple: int) -> None:
    example = torch.zeros(1, 1, 2 * multiple, 2 * multiple)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # The tracer warns about the model's size check (a Python `if` on the input's shape),
        # which is rightly left out of the graph, and torch warns that this exporter is legacy.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=["probability"],
                          dynamic_axes={"image": axes, "probability": axes},
                          do_constant_folding=True)


def _quantize(path: Path, out: Path, frames: Sequence[np.ndarray], metadata: dict, *,
              check: bool) -> None:
    """Replace the float32 model at `path` by its int8 model; with `check`, refuse one whose
    masks differ from float32's (dskd.deploy.quantize.compare_quantized)."""
    from dskd.deploy.quantize import compare_quantized, quantize_onnx

    quantized = temporary_path(out)
    try:
        quantize_onnx(path, quantized, frames, size_multiple=metadata["size_multiple"],
                      input_scale=metadata["input_scale"])
        quantization = {"weights": "int8 per channel", "activations": "uint8 per tensor",
                        "format": "QDQ", "calibration_frames": len(frames)}
        _attach_metadata(quantized, {**metadata, "quantization": quantization})
        if check:
            figures = compare_quantized(OnnxNet(path), OnnxNet(quantized), frames,
                                        threshold=metadata["threshold"], name=out)
            _attach_metadata(quantized, {**metadata, "quantization": {**quantization, **figures}})
            log.info("int8: max |float32 - int8| = %.2e; masks agree by a Dice of at least %.4f "
                     "(%d calibration frames)", figures["max_abs_dp"], figures["min_mask_dice"],
                     len(frames))
        os.replace(quantized, path)
    finally:
        quantized.unlink(missing_ok=True)


def _attach_metadata(path: Path, metadata: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    for index in reversed(range(len(model.metadata_props))):  # one entry: replace an earlier one
        if model.metadata_props[index].key == ONNX_METADATA_KEY:
            del model.metadata_props[index]
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def check_onnx(net: nn.Module, path: str | Path, *, tolerance: float = 1e-4, seed: int = 0,
               name: str | Path | None = None) -> float:
    """Largest |PyTorch - ONNX Runtime| probability on random standardised inputs of two sizes
    (one not square) and batch sizes 1 and 2. Raises DskdError above `tolerance`, naming `name`
    (default: path)."""
    onnx_net = OnnxNet(path)
    m = onnx_net.size_multiple
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch, height, width in ((1, 2 * m, 3 * m), (2, 5 * m, 4 * m)):
        image = torch.from_numpy(rng.standard_normal((batch, 1, height, width), dtype=np.float32))
        with torch.inference_mode():
            expected = net(image)
        worst = max(worst, float((onnx_net(image) - expected).abs().max()))
    if not worst <= tolerance:  # NaN fails too
        raise DskdError(f"{name or path}: not written: ONNX Runtime differs from PyTorch by {worst:.2e} "
                        f"(> {tolerance:g}); please report this with your torch and onnxruntime versions")
    return worst
