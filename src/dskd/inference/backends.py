"""The network behind one call, whatever runs it: PyTorch (CPU or CUDA) or ONNX Runtime.

A backend takes a standardised batch padded to its `size_multiple` and returns vessel
probabilities of the same shape:

    net = TorchNet(model, torch.device("cpu"), channels_last=True)   # or OnnxNet("model.onnx")
    probabilities = net(batch)            # (B, 1, H, W) float32 -> (B, 1, H, W) float32 in [0, 1]

Both see the same inputs: standardisation, padding, tiling and flips live in dskd.inference.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import Tensor, nn

from dskd.errors import CheckpointError, DskdError
from dskd.models.wrappers import unwrap

__all__ = ["Net", "TorchNet", "OnnxNet", "ONNX_METADATA_KEY", "Backend", "BACKENDS", "parse_device"]

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnxruntime"]
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")
ONNX_METADATA_KEY = "dskd"  # metadata_props entry holding JSON: size_multiple, input_scale,
                            # threshold, config


def parse_device(name: str) -> torch.device:
    """The torch device named `name` ("cpu", "cuda", "cuda:1"); one-line DskdError when it is not
    a device name or the device is not available here."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DskdError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DskdError(f"--device {name}: no CUDA device is available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DskdError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                            f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif device.type != "cpu":
        raise DskdError(f"--device {name}: dskd runs on cpu or cuda")
    return device


class Net(Protocol):
    size_multiple: int
    input_scale: int  # frames are upscaled this many times before the network (model.input_scale)

    def __call__(self, batch: Tensor) -> Tensor:
        """(B, 1, H, W) float32 on the CPU, H and W multiples of size_multiple -> probabilities."""
        ...


class TorchNet:
    """A PyTorch model (put in eval mode by the caller) as a Net. channels_last, autocast and
    compile are the speed settings that benchmarks/inference.py measures; autocast_dtype None keeps
    float32.

    fold_batch_norm: run an eval-mode copy with each BatchNorm folded into its convolution
    (inference.fusion): one memory pass less per convolution, outputs equal up to rounding.

    fuse_relu: each convolution and its ReLU run as one oneDNN call on a CPU (inference.fusion,
    after folding: a BatchNorm between them blocks it). With an autocast dtype the weights are
    converted to it once and the input cast on entry, since the fused call is outside autocast's
    rules; the arithmetic is autocast's (convolutions in that dtype). Not with compile: Inductor
    fuses the same post-ops itself, and cannot trace the fused call (its stride rule for the
    output disagrees with the eager kernel's; refused here).

    compile: run the network through torch.compile (TorchInductor, weights frozen as constants so
    BatchNorm folds into the convolutions and the oneDNN kernels are prepacked). It compiles on
    the first frame of each new frame size (tens of seconds, less once Inductor's on-disk cache
    holds it) and needs a C++ compiler, so it pays off for a server or a long run of frames, and
    is off by default. Its probabilities differ from eager mode by about bf16 rounding.
    """

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", *,
                 channels_last: bool = False, autocast_dtype: torch.dtype | None = None,
                 compile: bool = False, fold_batch_norm: bool = False, fuse_relu: bool = False) -> None:
        self.device = torch.device(device)
        if fuse_relu and compile:
            raise ValueError("fuse_relu and compile exclude each other: Inductor fuses the ReLUs itself")
        if fold_batch_norm:  # an eval-mode copy with each BatchNorm in its convolution (inference.fusion)
            from dskd.inference.fusion import fold_batch_norm as fold

            model = fold(model)
        self.input_dtype: torch.dtype | None = None
        if fuse_relu:
            from dskd.inference.fusion import fuse_conv_relu

            model = fuse_conv_relu(model)
            if autocast_dtype is not None:
                model, self.input_dtype = model.to(autocast_dtype), autocast_dtype
        self.model = model.to(self.device)  # eval mode is the caller's business, as in training
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.autocast_dtype = autocast_dtype
        self.size_multiple = int(unwrap(model).size_multiple)
        self.input_scale = int(unwrap(model).input_scale)
        self._logits = self._eager_logits
        if compile:
            self._logits = torch.compile(self._eager_logits, options={"freezing": True})

    def _eager_logits(self, batch: Tensor) -> Tensor:
        return self.model(batch, with_side_outputs=False).logits

    # no_grad, not inference_mode: the output must stay an ordinary tensor, since MONAI's sliding
    # window weights it in place, which an inference tensor refuses outside inference mode.
    @torch.no_grad()
    def __call__(self, batch: Tensor) -> Tensor:
        batch = batch.to(self.device, non_blocking=True)
        if self.input_dtype is not None:
            batch = batch.to(self.input_dtype)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        autocast = (torch.autocast(self.device.type, dtype=self.autocast_dtype)
                    if self.autocast_dtype is not None else contextlib.nullcontext())
        with autocast:
            try:
                logits = self._logits(batch)
            except torch._dynamo.exc.TorchDynamoException as error:  # compiling failed, not the network
                cause = getattr(error, "inner_exception", None) or error  # the compiler's own error
                text = str(cause).strip()
                reason = text.splitlines()[0][:200] if text else type(cause).__name__
                raise DskdError(f"--compile: torch.compile failed ({reason}); it needs a working C++ "
                                "compiler (gcc or clang): run without --compile") from None
        return torch.sigmoid(logits.float()).to("cpu").contiguous()


class OnnxNet:
    """An exported model (dskd export) run by ONNX Runtime on the CPU.

    threads: intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
    spin_wait: let the worker threads busy-wait after each run for the next one (ONNX Runtime's
    default). Off here: the spinning threads hold the cores while anything else runs between two
    frames (torch's pre- and post-processing, a second session, the server): on 2 cores two
    sessions in turn lost about half their frame rate, and one alone gained nothing measurable
    (benchmarks/ort_spinning.py, docs/inference.md).
    """

    def __init__(self, path: str | Path, *, threads: int = 0, spin_wait: bool = False) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: ONNX model not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait else "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CheckpointError(f"{path}: not a loadable ONNX model ({first})") from None
        meta = self.session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
        if meta is None:
            raise CheckpointError(f"{path}: no dskd metadata; export it with `dskd export`")
        try:
            self.metadata = json.loads(meta)
            self.size_multiple = int(self.metadata["size_multiple"])
            self.threshold = float(self.metadata["threshold"])
            self.input_scale = int(self.metadata.get("input_scale", 1))  # exports before it: 1
        except (ValueError, TypeError, KeyError) as error:
            raise CheckpointError(f"{path}: damaged dskd metadata ({type(error).__name__}: {error}); "
                                  "export it again with `dskd export`") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: Tensor) -> Tensor:
        array = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])
