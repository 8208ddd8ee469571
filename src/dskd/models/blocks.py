"""Building blocks of the U-Net: two 3x3 convolutions with BatchNorm and ReLU."""

from torch import Tensor, nn

__all__ = ["DoubleConv"]


class DoubleConv(nn.Sequential):
    """(conv3x3 -> BN -> ReLU) x 2. Shapes: (B, in, H, W) -> (B, out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:  # typed for readers; nn.Sequential does the work
        return super().forward(x)
