from dskd.losses.dice import soft_dice_loss
from dskd.losses.distribution import deep_distribution_loss, patch_distribution
from dskd.losses.objective import LossTerms, compute_objective, deep_supervision_weights
from dskd.losses.self_distillation import alpha_schedule, pixel_self_distillation_loss

__all__ = [
    "soft_dice_loss",
    "deep_distribution_loss",
    "patch_distribution",
    "pixel_self_distillation_loss",
    "alpha_schedule",
    "compute_objective",
    "deep_supervision_weights",
    "LossTerms",
]
