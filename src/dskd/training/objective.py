"""The objective a config asks for: `loss.objective` names a preset, or `custom` takes `loss.terms`.

    dice              dice + bce (the plain U-Net baseline)
    deep_supervision  Dice + BCE on the main output and on every side output, decaying weights
    pskd              dice + psdl
    ddl               dice + ddl
    dskd              dice + psdl + ddl (METHOD.md, Losses)
    custom            the weighted terms of loss.terms, e.g. {deep_supervision: 1, psdl: 1, ddl: 1}

The presets keep the meaning every shipped config and result had: the weights of dice, psdl and
ddl come from loss.w_dice, w_psdl and w_ddl (except in `dice`, whose two terms weigh 1).
The term options (DDL's patches, form, tau, direction and target; the deep-supervision decay;
clDice's iterations; the skeleton-recall tube) come from the same `loss` section whichever way
the terms are chosen: each term names its settings (dskd.losses.terms, OPTIONS).
"""

from __future__ import annotations

from dskd.config import LossConfig
from dskd.losses.terms import Objective, build_term

__all__ = ["build_objective", "preset_weights"]


def preset_weights(loss: LossConfig) -> dict[str, float]:
    """{term name: weight}, in the order the terms are summed."""
    if loss.objective == "custom":
        return dict(loss.terms)
    return {
        "dice": {"dice": 1.0, "bce": 1.0},
        "deep_supervision": {"deep_supervision": 1.0},
        "pskd": {"dice": loss.w_dice, "psdl": loss.w_psdl},
        "ddl": {"dice": loss.w_dice, "ddl": loss.w_ddl},
        "dskd": {"dice": loss.w_dice, "psdl": loss.w_psdl, "ddl": loss.w_ddl},
    }[loss.objective]


def build_objective(loss: LossConfig) -> Objective:
    return Objective(tuple((name, weight, build_term(name, loss))
                           for name, weight in preset_weights(loss).items()))
