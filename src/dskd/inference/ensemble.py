"""Several networks as one: the mean of their probabilities (the fold models of a
cross-validation, or models of several seeds)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from dskd.inference.backends import Net

__all__ = ["EnsembleNet"]


class EnsembleNet:
    """A Net whose output is the mean of its members' probabilities. Its size multiple is the
    least common multiple of theirs, so every member sees an input it accepts."""

    def __init__(self, nets: Sequence[Net]) -> None:
        if not nets:
            raise ValueError("an ensemble needs at least one network")
        self.nets = list(nets)
        self.size_multiple = math.lcm(*(int(n.size_multiple) for n in self.nets))

    def __call__(self, batch: Tensor) -> Tensor:
        """(B, 1, H, W) -> the members' mean probabilities (B, 1, H, W)."""
        total = self.nets[0](batch)
        for net in self.nets[1:]:
            total = total + net(batch)
        return total / len(self.nets) if len(self.nets) > 1 else total
