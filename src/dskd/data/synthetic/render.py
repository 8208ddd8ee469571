"""From vessels and a background to an X-ray image: Beer-Lambert attenuation along each tube's
chord, blur, collimator, quantum noise, gamma and contrast spread.

All tubes are stamped at once: every centreline sample writes the chord of its disc into a small
window, a pixel keeps the largest chord per tube (the tube's thickness there) and the tubes' path
lengths add (crossings are darker, as in an X-ray).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from dskd.data.synthetic.background import (
    RealBackgrounds,
    anatomy_background,
    collimator,
    smooth_background,
)
from dskd.data.synthetic.style import SynthStyle
from dskd.data.synthetic.trees import STEP, Vessel, coronary_tree

__all__ = ["render_tubes", "synth_angiogram", "synth_angiogram_from"]


def _thin_out(vessel: Vessel) -> np.ndarray:
    """Indices of the samples to stamp: spacing 0.35 x radius (at least STEP), so wide tubes are
    not stamped hundreds of times over; the chord lost between samples is under 4%."""
    spacing = np.maximum(STEP, 0.35 * vessel.radii)
    ticks = np.floor(np.cumsum(STEP / spacing))
    keep = np.flatnonzero(np.diff(ticks, prepend=-1) > 0)
    return np.unique(np.append(keep, len(vessel.radii) - 1))


def render_tubes(vessels: list[Vessel], size: int, *,
                 min_mask_radius: float = 1.3) -> tuple[np.ndarray, np.ndarray]:
    """Iodine path length (size, size) float64 (density-weighted px) and mask (size, size) bool.

    A sample of radius r marks the pixels whose centre lies within r (within `min_mask_radius` px
    at least: annotations are never thinner) when its vessel is labelled. Tubes thinner than a pixel keep
    their iodine (area pi r^2) spread over an effective radius of 0.7 px.
    """
    parts = [(i, k) for i, v in enumerate(vessels) for k in [_thin_out(v)]]
    ids = np.concatenate([np.full(len(k), i) for i, k in parts])
    points = np.concatenate([vessels[i].points[k] for i, k in parts])
    radii = np.concatenate([vessels[i].radii[k] for i, k in parts])
    density = np.concatenate([vessels[i].density[k] for i, k in parts])
    labelled = np.concatenate([np.full(len(k), vessels[i].labelled) for i, k in parts])
    floor = np.concatenate([np.full(len(k), min_mask_radius if vessels[i].mask_floor is None
                                    else vessels[i].mask_floor) for i, k in parts])
    effective = np.maximum(radii, 0.7)
    density = density * (radii / effective) ** 2
    reach_of = np.ceil(np.maximum(effective, floor)).astype(int)
    keys, values, hits = [], [], []
    for reach in np.unique(reach_of):
        sel = reach_of == reach
        offsets = np.arange(-reach, reach + 1)
        centre = np.round(points[sel]).astype(int)
        ys = (centre[:, 0, None, None] + offsets[None, :, None]).repeat(len(offsets), 2)
        xs = (centre[:, 1, None, None] + offsets[None, None, :]).repeat(len(offsets), 1)
        d2 = (ys - points[sel, 0, None, None]) ** 2 + (xs - points[sel, 1, None, None]) ** 2
        r2 = effective[sel, None, None] ** 2
        inside = (ys >= 0) & (ys < size) & (xs >= 0) & (xs < size)
        chord = 2 * np.sqrt(np.clip(r2 - d2, 0, None)) * density[sel, None, None]
        pixel = ys * size + xs
        vessel = np.broadcast_to(ids[sel, None, None], pixel.shape)
        on = inside & (chord > 0)
        keys.append(vessel[on].astype(np.int64) * size * size + pixel[on])
        values.append(chord[on])
        r_mask2 = np.maximum(radii[sel], floor[sel])[:, None, None] ** 2
        marked = inside & (d2 < r_mask2) & labelled[sel, None, None]
        hits.append(pixel[marked])
    keys, values = np.concatenate(keys), np.concatenate(values)
    order = np.lexsort((values, keys))  # by tube and pixel, then by chord: the last is the max
    keys, values = keys[order], values[order]
    last = np.flatnonzero(np.append(keys[1:] != keys[:-1], True))
    path = np.bincount(keys[last] % (size * size), weights=values[last], minlength=size * size)
    mask = np.zeros(size * size, dtype=bool)
    mask[np.concatenate(hits)] = True
    return path.reshape(size, size), mask.reshape(size, size)


def synth_angiogram(rng: np.random.Generator, size: int = 300, style: SynthStyle | None = None, *,
                    backgrounds: RealBackgrounds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One angiogram and its vessel mask: float32 (size, size) in [0, 1] and bool (size, size).

    Deterministic for the state of `rng`. With `backgrounds`, a real vessel-free background is
    used with probability style.real_background_prob (it brings its own collimator and texture).
    """
    style = style or SynthStyle()
    vessels = coronary_tree(rng, size, style)
    if style.stenoses:
        from dskd.data.synthetic.lesions import add_stenoses  # lesions.py builds on this module

        vessels, _ = add_stenoses(rng, vessels, style.stenoses)
    return synth_angiogram_from(rng, vessels, size, style, backgrounds=backgrounds)


def synth_angiogram_from(rng: np.random.Generator, vessels: list[Vessel], size: int, style: SynthStyle, *,
                         backgrounds: RealBackgrounds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """synth_angiogram for a given set of tubes (e.g. a tree with stenoses added): the background,
    blur, collimator, noise and gamma drawn from `rng`."""
    path, mask = render_tubes(vessels, size, min_mask_radius=style.min_diameter / 2)
    real = backgrounds is not None and rng.random() < style.real_background_prob
    if real:
        exposure = backgrounds.draw(rng, size)
    elif style.background == "anatomy":
        exposure = anatomy_background(rng, size)
    else:
        exposure = smooth_background(rng, size)
    image = exposure * np.exp(-rng.uniform(*style.attenuation) * path)
    image = ndimage.gaussian_filter(image, rng.uniform(*style.blur))
    if not real:
        field = collimator(rng, size, style.collimator_radius, rim_prob=style.rim_prob)
        image = image * field + rng.uniform(0.02, 0.08) * (1 - np.clip(field, 0, 1))
        mask &= field > 0.5  # what the collimator hides is not annotated
    else:
        mask &= ndimage.gaussian_filter(exposure, 2) > 0.12
    image = np.clip(image, 0, 1)
    image = image + rng.uniform(*style.noise) * np.sqrt(image) * rng.normal(size=image.shape)
    if style.grain[1] > 0:  # fine correlated texture (detector and scatter), ~1 px
        grain = ndimage.gaussian_filter(rng.normal(size=image.shape), rng.uniform(0.7, 1.3))
        image = image + rng.uniform(*style.grain) * grain / max(grain.std(), 1e-9)
    image = np.clip(image, 0, 1) ** rng.uniform(*style.gamma)
    mean = image.mean()
    image = (image - mean) * (1 + rng.uniform(-1, 1) * style.contrast_spread) + mean
    return np.clip(image, 0, 1).astype(np.float32), mask
