"""U-Net whose decoder stages give side outputs (METHOD.md, Network).

Depth d = number of poolings. Decoder stage i = 1..d works at H / 2**(i-1); stage 1 is full
resolution. Each stage has a 3x3 side head whose logits are upsampled bilinearly to H x W; the main
prediction is a separate 1x1 head on stage 1. The network returns logits only (sigmoid belongs to
losses, evaluation and export).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dskd.errors import DataError
from dskd.models.blocks import DoubleConv

__all__ = ["UNetOutput", "UNet", "UNetSettings", "build_model"]


@dataclass(frozen=True)
class UNetOutput:
    """logits: (B, 1, H, W). side_logits: d tensors (B, 1, H, W), stage 1 first; empty if skipped."""

    logits: Tensor
    side_logits: tuple[Tensor, ...]


class UNet(nn.Module):
    def __init__(self, *, depth: int = 4, width: int = 16, in_channels: int = 1,
                 input_scale: int = 1) -> None:
        super().__init__()
        self.depth = depth
        # How many times larger than they are this network sees images (model.input_scale):
        # not a weight, but how every prediction must feed it (dskd.inference.probabilities).
        self.input_scale = input_scale
        channels = [width * 2**level for level in range(depth + 1)]  # encoder levels + bottleneck
        self.encoders = nn.ModuleList()
        previous = in_channels
        for level in range(depth):
            self.encoders.append(DoubleConv(previous, channels[level]))
            previous = channels[level]
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(channels[depth - 1], channels[depth])
        # decoders[k] is decoder stage i = k + 1 (stage 1: full resolution).
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(channels[k + 1], channels[k], kernel_size=2, stride=2)
            for k in range(depth)
        )
        self.decoders = nn.ModuleList(DoubleConv(2 * channels[k], channels[k]) for k in range(depth))
        self.side_heads = nn.ModuleList(nn.Conv2d(channels[k], 1, 3, padding=1) for k in range(depth))
        self.head = nn.Conv2d(channels[0], 1, 1)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.depth

    def forward(self, x: Tensor, *, with_side_outputs: bool = True) -> UNetOutput:
        """x: (B, C, H, W) with H, W multiples of 2**depth -> UNetOutput."""
        height, width = x.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            m = self.size_multiple
            raise DataError(
                f"input {height}x{width} is not divisible by {m} (depth {self.depth}); "
                f"pad to {-(-height // m) * m}x{-(-width // m) * m}"
            )
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        side_logits: list[Tensor] = []
        for k in reversed(range(self.depth)):  # stage d (coarsest) down to stage 1
            x = self.decoders[k](torch.cat([self.upsamplers[k](x), skips[k]], dim=1))
            if with_side_outputs:
                side = self.side_heads[k](x)
                if k > 0:
                    side = F.interpolate(side, size=(height, width), mode="bilinear",
                                         align_corners=False)
                side_logits.append(side)
        return UNetOutput(logits=self.head(x), side_logits=tuple(reversed(side_logits)))


class UNetSettings(Protocol):
    """What build_model reads: the config's `model` section satisfies it."""

    depth: int
    width: int
    in_channels: int
    input_scale: int


def build_model(settings: UNetSettings) -> UNet:
    return UNet(depth=settings.depth, width=settings.width, in_channels=settings.in_channels,
                input_scale=settings.input_scale)
