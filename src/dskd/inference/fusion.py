"""Inference-only rewrites of a trained network that keep its output and save memory passes.

fold_batch_norm: in eval mode a BatchNorm is an affine map per channel, so it can be folded into
the preceding convolution's weights and bias: one memory pass less per convolution. In bf16 on a
CPU that made a 512x512 frame 1.19-1.47x faster (benchmarks/inference.py, docs/inference.md).

fuse_conv_relu: each convolution followed by a ReLU becomes one oneDNN call with the ReLU as the
convolution's post-op, so the ReLU no longer reads and writes the whole activation again. In a
bf16 512x512 frame of the width-16 U-Net the separate ReLUs took 26% of the time, and fusing them
made the network 1.38x faster (benchmarks/fusion_levers.py, docs/inference.md). dskd.deploy
applies both wherever the network runs in bf16 on a CPU.

Written here because the library routes do not fit this model: torch.fx's fuse() needs a
forward that FX can trace (ours takes a keyword flag and returns a dataclass), torch.ao's
fuse_modules needs every pair named by hand and targets quantisation, and torch.compile (which
emits the same oneDNN post-op call) compiles for tens of seconds and needs a C++ compiler. The
arithmetic is torch's own (fuse_conv_bn_eval; oneDNN's convolution with a ReLU post-op).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["ConvReLU", "fold_batch_norm", "fuse_conv_relu"]


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` in which every Conv2d directly followed by a BatchNorm2d in an
    nn.Sequential carries the BatchNorm (which becomes an Identity). Outputs equal the original's
    up to float rounding; the model must not be trained further (the statistics are baked in)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (conv_name, conv), (norm_name, norm) in zip(children, children[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, norm))
                setattr(module, norm_name, nn.Identity())
    return folded


def _fused_op_available() -> bool:
    """PyTorch's oneDNN convolution with a post-op (the call TorchInductor emits on CPUs; a
    private op, so its absence in some build means the unfused path, never an error)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class ConvReLU(nn.Module):
    """relu(conv(x)) in one oneDNN call on a CPU; the plain two steps elsewhere (CUDA, a build
    without the op). The input must already have the weights' dtype: run it in a model whose
    weights were converted (model.to(torch.bfloat16)), not under autocast, which does not know
    this op. Shapes as the convolution's."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self._fused = _fused_op_available()

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv
        if not (self._fused and x.device.type == "cpu"):
            return F.relu(conv(x))
        return torch.ops.mkldnn._convolution_pointwise(
            x, conv.weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups,
            "relu", [], "")


def _fusable(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))  # "same"/"valid" are resolved by F.conv2d only


def fuse_conv_relu(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` in which every Conv2d followed by a ReLU in an nn.Sequential
    (Identity layers between them skipped, as fold_batch_norm leaves them) is one ConvReLU (the
    ReLU becomes an Identity). Fold BatchNorm first: a BatchNorm between the two blocks fusion."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if not isinstance(module, nn.Sequential):
            continue
        layers = [(name, layer) for name, layer in module.named_children()
                  if not isinstance(layer, nn.Identity)]
        for (conv_name, conv), (relu_name, relu) in zip(layers, layers[1:], strict=False):
            if _fusable(conv) and isinstance(relu, nn.ReLU):
                setattr(module, conv_name, ConvReLU(conv))
                setattr(module, relu_name, nn.Identity())
    return fused
