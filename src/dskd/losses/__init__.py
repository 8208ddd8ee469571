from dskd.losses.dice import soft_dice_loss
from dskd.losses.distribution import deep_distribution_loss, patch_distribution
from dskd.losses.self_distillation import alpha_schedule, pixel_self_distillation_loss
from dskd.losses.terms import TERMS, LossTerms, Objective, Reads, TermInputs, deep_supervision_weights
from dskd.losses.topology import skeleton_recall_loss, soft_cldice_loss

__all__ = [
    "soft_dice_loss",
    "deep_distribution_loss",
    "patch_distribution",
    "pixel_self_distillation_loss",
    "alpha_schedule",
    "soft_cldice_loss",
    "skeleton_recall_loss",
    "TERMS",
    "LossTerms",
    "Objective",
    "Reads",
    "TermInputs",
    "deep_supervision_weights",
]
