"""ONNX export of a checkpoint: probabilities out, dynamic batch, height and width.

    dskd export runs/cimat/best.pt --out model.onnx

The graph is the network plus its sigmoid, nothing else: standardisation (per-image z-score) and
padding to the network's multiple stay in Python (dskd.inference), shared by both backends, so
PyTorch and ONNX Runtime see identical inputs. The ONNX file carries, as metadata, what a
predictor needs besides the weights: the size multiple, the decision threshold and the config.
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
import warnings
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
from dskd.writing import atomic_path, make_output_folder

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


def export_onnx(checkpoint: str | Path, out: str | Path, *, check: bool = True) -> Path:
    """Write `out` (an ONNX model) from a dskd checkpoint; with `check`, verify it against PyTorch
    at two sizes and two batch sizes (raises DskdError when they disagree by more than 1e-4)."""
    _check_target(Path(out))  # before loading: a wrong --out fails at once
    model, config, threshold = load_model(checkpoint)
    return export_model(model, out, threshold=threshold, config=config_to_dict(config),
                        source=str(checkpoint), check=check)


def _check_target(out: Path) -> None:
    if out.is_dir():
        raise DskdError(f"--out {out}: is a folder; name the file to write, e.g. {out / 'model.onnx'}")
    if out.suffix.lower() != ".onnx":
        raise DskdError(f"--out {out}: name the file *.onnx (dskd predict tells exported models "
                        "from checkpoints by this suffix)")
    make_output_folder(out.parent, "the folder of --out")


def export_model(model: nn.Module, out: str | Path, *, threshold: float = 0.5,
                 config: dict | None = None, source: str = "", check: bool = True) -> Path:
    """Write `out` from a model in memory (see export_onnx); the model itself is left untouched.

    The graph, its metadata and the check all happen on a temporary file beside `out`, renamed
    onto it only when all three succeeded: an existing `out` survives a failed or interrupted
    export, and no model that failed its check is left behind.
    """
    net = ProbabilityNet(copy.deepcopy(unwrap(model)).cpu()).eval()
    multiple = unwrap(model).size_multiple
    out = Path(out)
    _check_target(out)
    example = torch.zeros(1, 1, 2 * multiple, 2 * multiple)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            # The tracer warns about the model's size check (a Python `if` on the input's shape),
            # which is rightly left out of the graph, and torch warns that this exporter is legacy.
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (example,), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=["image"], output_names=["probability"],
                              dynamic_axes={"image": axes, "probability": axes},
                              do_constant_folding=True)
        _attach_metadata(tmp, {"size_multiple": multiple,
                               "input_scale": int(unwrap(model).input_scale), "threshold": threshold,
                               "config": config or {}, "dskd_version": __version__, "source": source})
        if check:
            error = check_onnx(net, tmp, name=out)
            log.info("exported %s (max |PyTorch - ONNX Runtime| = %.2e over two sizes and batches)",
                     out, error)
    return out


def _attach_metadata(path: Path, metadata: dict) -> None:
    import onnx

    model = onnx.load(str(path))
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
