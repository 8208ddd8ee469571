"""The generator's settings: one frozen dataclass, with presets per realism level."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["SynthStyle", "Realism", "style_for"]

Realism = Literal["basic", "standard", "full"]


@dataclass(frozen=True)
class SynthStyle:
    """Knobs of the generator. Widths, blur and noise are in px at CIMAT's pixel size whatever the
    image size; the trees' lengths and the anatomy scale with the image (300 px: CIMAT's field).

    The defaults come from CIMAT training images and masks (benchmarks/angiogram_stats.py,
    docs/synthetic.md): annotated vessels are 3-13 px wide (median 5.5 px on the skeleton), a
    main artery with about five side branches, tortuosity about 1.17, centreline attenuation
    -log(I/B) from 0.11 (thin) to 0.32 (widest), a background of mean 0.54 and std 0.10.
    """

    main_diameter: tuple[float, float] = (8.0, 13.0)  # proximal diameter of the main artery
    wide_main_prob: float = 0.25  # ... or, this often, of a wide one (CIMAT: up to ~19 px)
    wide_main_diameter: tuple[float, float] = (13.0, 19.0)
    min_diameter: float = 3.0  # annotated branches are at least this wide
    side_branches: float = 3.0  # mean number of annotated side branches of the main artery
    wiggle: float = 0.3  # std (rad) of the heading's deviations that make paths tortuous
    attenuation: tuple[float, float] = (0.025, 0.055)  # -log(I/B) per px of iodine path
    faint_vessels: float = 14.0  # mean number of thin (1-3 px) unannotated vessels
    blobs: float = 1.0  # mean number of short wide unannotated stains
    catheter_prob: float = 0.8
    crossing_prob: float = 0.3  # a second artery crossing the first
    background: Literal["smooth", "anatomy"] = "anatomy"
    noise: tuple[float, float] = (0.002, 0.006)  # std of the quantum noise at full brightness
    grain: tuple[float, float] = (0.004, 0.012)  # std of fine correlated texture (sigma ~1 px)
    blur: tuple[float, float] = (0.8, 1.6)  # px, focal spot and detector
    gamma: tuple[float, float] = (0.8, 1.25)
    contrast_spread: float = 0.25  # the image's contrast is scaled by 1 +- this
    stenoses: int = 0  # stenoses of known degree per image (dskd.data.synthetic.lesions); 0: none
    collimator_radius: tuple[float, float] = (0.6, 0.7)  # of the image size
    rim_prob: float = 0.5  # a dark or bright rim just inside the collimator's edge
    real_backgrounds: tuple[str, ...] = ()  # files of vessel-free backgrounds (backgrounds.py)
    real_background_prob: float = 0.0


def style_for(realism: Realism = "standard", **changes) -> SynthStyle:
    """The preset of a realism level, with `changes` applied.

    basic: clean trees on a smooth background, no catheter, faint vessels or crossings (the
    easiest images, for tests and smoke runs); standard: the defaults; full: more clutter, noise
    and spread than CIMAT shows, to make a model robust.
    """
    if realism == "basic":
        base = SynthStyle(faint_vessels=0.0, blobs=0.0, catheter_prob=0.0, crossing_prob=0.0,
                          background="smooth", grain=(0.0, 0.0))
    elif realism == "standard":
        base = SynthStyle()
    elif realism == "full":
        base = SynthStyle(faint_vessels=20.0, blobs=2.0, catheter_prob=1.0, crossing_prob=0.7,
                          noise=(0.002, 0.012), grain=(0.003, 0.015), blur=(0.6, 2.0),
                          gamma=(0.7, 1.4), contrast_spread=0.35, attenuation=(0.02, 0.08))
    else:
        raise ValueError(f"realism={realism!r} is not an option; valid: basic, standard, full")
    return replace(base, **changes)
