"""The model a prediction runs: a checkpoint (PyTorch), an exported model (ONNX Runtime), or
an ensemble of them, with its decision threshold and the gray rule of its training data."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dskd.data.io import GrayRule
from dskd.data.readers import gray_rule
from dskd.errors import CheckpointError, DskdError
from dskd.inference.backends import BACKENDS, Backend, Net, OnnxNet, TorchNet, parse_device
from dskd.inference.ensemble import agreed_threshold, as_one_net
from dskd.inference.precision import Amp, resolve_autocast

__all__ = ["load_ensemble", "load_net"]

log = logging.getLogger(__name__)

COMPILE_SIZE = 512  # --compile compiles for this frame side at load (CIMAT's, and the tiling window's)


def load_net(model_path: str | Path, *, backend: Backend = "torch", device: str = "cpu",
             amp: Amp = "auto", channels_last: bool = True, threads: int = 0,
             threshold: float | None = None, compile: bool = False) -> tuple[Net, float, GrayRule]:
    """(backend net, decision threshold, colour-to-gray rule of its training data) from a
    checkpoint (torch) or an exported model (onnxruntime).

    amp: the torch backend's precision: "auto" (bf16 autocast where the CPU or GPU has bf16
    units, float32 elsewhere; dskd.inference.precision), True (bf16) or False (float32).
    compile: the torch backend through torch.compile (inference.backends.TorchNet).

    threshold: the user's, checked and returned in place of the model's own (None: the model's,
    which must then be in (0, 1)).
    """
    model_path = Path(model_path)
    if backend not in BACKENDS:
        raise DskdError(f"backend '{backend}' is not one of {', '.join(BACKENDS)}")
    if threshold is not None and not 0.0 < threshold < 1.0:  # also refuses NaN
        raise DskdError(f"--threshold {threshold} must be in (0, 1)")
    is_onnx = model_path.suffix.lower() == ".onnx"
    if backend == "onnxruntime":
        if not is_onnx:
            raise CheckpointError(f"{model_path}: --backend onnxruntime needs an exported model; "
                                  f"run `dskd export {model_path} --out model.onnx` first")
        if device != "cpu" or amp is True or compile:
            raise DskdError("--backend onnxruntime runs on the CPU in float32; "
                            "drop --device, --precision bf16 and --compile")
        net = OnnxNet(model_path, threads=threads)
        if threshold is None and not 0.0 < net.threshold < 1.0:
            raise CheckpointError(f"{model_path}: stored threshold {net.threshold!r} is not in (0, 1); "
                                  "give a threshold in (0, 1) with --threshold to override it")
        layout = net.metadata.get("config", {}).get("data", {}).get("layout", "folder")
        return net, net.threshold if threshold is None else threshold, gray_rule(layout)
    if is_onnx:
        raise CheckpointError(f"{model_path}: an ONNX model; add --backend onnxruntime")
    from dskd.checkpoint import load_model

    torch_device = parse_device(device)
    model, config, stored = load_model(model_path, check_threshold=threshold is None)
    autocast_dtype, why = resolve_autocast(amp, torch_device)
    log.info("precision: %s", why)
    # BatchNorm folded into the convolutions, and on a CPU each ReLU fused into its convolution,
    # where the network runs in reduced precision (docs/inference.md gives what each saves); in
    # float32 the network runs as trained, so that masks equal dskd evaluate's to the pixel
    # (folding moves a float32 probability by about 1e-6). --compile fuses the ReLUs itself.
    reduced = autocast_dtype is not None
    net = TorchNet(model, torch_device, channels_last=channels_last, autocast_dtype=autocast_dtype,
                   compile=compile, fold_batch_norm=reduced,
                   fuse_relu=reduced and torch_device.type == "cpu" and not compile)
    if compile:  # compile now for the usual 512x512 frame (and fail now, in one line, if it cannot)
        import numpy as np

        from dskd.inference import frame_probabilities

        clock = time.perf_counter()
        frame_probabilities(net, np.zeros((COMPILE_SIZE, COMPILE_SIZE), np.float32))
        log.info("torch.compile: compiled for %dx%d frames in %.0f s (another size compiles on its "
                 "first frame)", COMPILE_SIZE, COMPILE_SIZE, time.perf_counter() - clock)
    return net, stored if threshold is None else threshold, gray_rule(config.data.layout)


def load_ensemble(model_paths: list[str | Path], *, threshold: float | None = None,
                  **options) -> tuple[Net, float, GrayRule]:
    """load_net for several models: their mean probabilities (EnsembleNet). Their stored thresholds
    and colour-to-gray rules must agree, unless `threshold` replaces the thresholds."""
    loaded = [load_net(path, threshold=threshold, **options) for path in model_paths]
    if len(loaded) == 1:
        return loaded[0]
    threshold = agreed_threshold([t for _, t, _ in loaded])
    grays = {g for _, _, g in loaded}
    if len(grays) > 1:
        raise DskdError(f"the models were trained on data of different gray rules ({sorted(grays)})")
    return as_one_net([net for net, _, _ in loaded]), threshold, grays.pop()
