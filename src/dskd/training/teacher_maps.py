"""The teacher's outputs on whole training images, cut to the crops of each batch
(teacher.runs_on=whole_images).

Why: by default the teacher runs on every augmented batch, a third of the floating-point work of
a training step (docs/training.md). A snapshot teacher is frozen for a whole epoch, so it can
instead run once per epoch on each whole training image; each crop's targets are then cut from
those maps with the crop's own placement (rotation, zoom, flips, quarter turns). That costs less
whenever an epoch's crops cover more pixels than the training images (CIMAT's recipe: 400 crops
of 128 px, 6.6 million pixels, against 32 images of 304 x 304, 3.0 million).

What differs from runs_on=batch: the teacher sees each image without the intensity augmentation
and with all of its context, and its maps are resampled (bilinearly, like the image crops) where
a crop is rotated or zoomed. Memory: (1 + depth) float32 maps per training image, on the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from dskd.data.cases import CaseArrays
from dskd.data.datasets import image_tensor
from dskd.data.transforms import CropPlacement
from dskd.models.unet import UNetOutput
from dskd.training.frozen_copy import FrozenCopy

__all__ = ["TeacherMaps"]


class TeacherMaps:
    """The teacher's logits on each whole training image: maps[k] is (1, 1 + s, H_k, W_k), the main
    logits followed by the s side logits (s = depth, or 0 when the objective reads none)."""

    def __init__(self, maps: Sequence[Tensor]) -> None:
        """maps: one (1 + s, H_k, W_k) float tensor per training image, in the dataset's order."""
        # Kept as (1, 1 + s, H, W) channels-last: grid_sample reads that layout about twice as
        # fast on CPU (measured), the channels of one pixel lying side by side.
        self.maps = [m[None].contiguous(memory_format=torch.channels_last) for m in maps]

    @classmethod
    @torch.no_grad()
    def compute(cls, teacher: FrozenCopy, cases: Sequence[CaseArrays], *, size_multiple: int,
                with_side_outputs: bool, device: torch.device,
                memory_format: torch.memory_format = torch.contiguous_format,
                amp_dtype: torch.dtype | None = None, show_progress: bool = True) -> TeacherMaps:
        """Run the (ready) teacher once on every case's whole image, standardised and padded as at
        inference; the maps are cut back to the image's own size."""
        maps = []
        for case in tqdm(cases, desc="teacher on whole images", unit="image", leave=False,
                         disable=None if show_progress else True):
            height, width = case.image.shape
            x = image_tensor(case.image, size_multiple).to(device, memory_format=memory_format)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = teacher(x, with_side_outputs=with_side_outputs)
            stacked = torch.cat([out.logits, *out.side_logits], dim=1)[0, :, :height, :width]
            maps.append(stacked.float().clone())  # clone: a normal tensor, not an inference one
        return cls(maps)

    @torch.no_grad()
    def crops(self, where: Tensor, crop: int) -> UNetOutput:
        """The teacher's outputs for a batch of crops, as if it had run on them.

        where: (B, 10), TrainCrops' placements (case index, then CropPlacement.to_vector()).
        Returns logits (B, 1, crop, crop) and s side logits of the same shape.
        """
        rows = []
        index = torch.arange(crop, dtype=torch.float32, device=self.maps[0].device)
        i, j = torch.meshgrid(index, index, indexing="ij")
        for k, *vector in where.tolist():
            maps = self.maps[int(k)]
            height, width = maps.shape[-2:]
            placement = CropPlacement.from_vector(vector)
            (m00, m01), (m10, m11) = placement.matrix.tolist()
            o0, o1 = placement.offset.tolist()
            row, col = m00 * i + m01 * j + o0, m10 * i + m11 * j + o1
            # grid_sample's coordinates of pixel centres (align_corners=False), x first; its
            # "reflection" padding mirrors about the border as scipy's mode="reflect" does for
            # the image crops (half-sample symmetric).
            grid = torch.stack([(2 * col + 1) / width - 1, (2 * row + 1) / height - 1], dim=-1)
            out = F.grid_sample(maps, grid[None], mode="bilinear", padding_mode="reflection",
                                align_corners=False)[0]
            if placement.flip_lr:
                out = out.flip(-1)
            if placement.flip_ud:
                out = out.flip(-2)
            rows.append(torch.rot90(out, placement.turns, dims=(-2, -1)))
        batch = torch.stack(rows)  # (B, 1 + s, crop, crop)
        sides = tuple(batch[:, c:c + 1] for c in range(1, batch.shape[1]))
        return UNetOutput(logits=batch[:, :1], side_logits=sides)
