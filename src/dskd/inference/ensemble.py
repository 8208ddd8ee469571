"""Several networks as one: the mean of their probabilities (the fold models of a
cross-validation, or models of several seeds)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from dskd.errors import DskdError
from dskd.inference.backends import Net

__all__ = ["EnsembleNet", "agreed_threshold", "as_one_net"]


class EnsembleNet:
    """A Net whose output is the mean of its members' probabilities. Its size multiple is the
    least common multiple of theirs, so every member sees an input it accepts; all members must
    share one input scale."""

    def __init__(self, nets: Sequence[Net]) -> None:
        if not nets:
            raise ValueError("an ensemble needs at least one network")
        self.nets = list(nets)
        self.size_multiple = math.lcm(*(int(n.size_multiple) for n in self.nets))
        scales = sorted({int(n.input_scale) for n in self.nets})
        if len(scales) > 1:  # their probabilities would not be of the same pixels
            raise DskdError(f"the {len(self.nets)} models see images at different scales "
                            f"(model.input_scale {', '.join(map(str, scales))}); ensemble models "
                            "of one scale")
        self.input_scale = scales[0]

    def __call__(self, batch: Tensor) -> Tensor:
        """(B, 1, H, W) -> the members' mean probabilities (B, 1, H, W)."""
        total = self.nets[0](batch)
        for net in self.nets[1:]:
            total = total + net(batch)
        return total / len(self.nets)


def as_one_net(nets: Sequence[Net]) -> Net:
    """The one net itself, or the ensemble of several."""
    return nets[0] if len(nets) == 1 else EnsembleNet(nets)


def agreed_threshold(thresholds: Sequence[float]) -> float:
    """The threshold the models of an ensemble store; DskdError when they differ."""
    distinct = sorted(set(thresholds))
    if len(distinct) > 1:
        raise DskdError(f"the {len(thresholds)} models store different thresholds "
                        f"({', '.join(f'{t:g}' for t in distinct)}); give one with --threshold")
    return distinct[0]
