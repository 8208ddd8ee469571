"""Synthetic cine runs: one coronary tree filling with contrast and washing out while the heart
beats, with the frame of peak opacification known (issue 33).

- Contrast curve: a gamma variate, c(t) = x^a exp(a (1 - x)) with x = (t - t0) / (tp - t0) after
  the injection starts at t0 and 0 before; it peaks (c = 1) at tp, the true peak frame, and washes
  out slowly after it (a in 2-4).
- Motion: the tree (vessels and mask) moves with a cardiac-like cycle of 12-20 frames: a periodic
  translation of 2-6 px and a scaling of +-2% about the image centre; the background stays.
- Every frame gets its own quantum noise; blur, collimator and gamma are those of the run.
- Masks: the vessels' true extent in every frame, filled or not (what an expert would outline
  where the vessel is); the catheter and thin vessels are not in the mask, as in synth_angiogram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from dskd.data.synthetic.background import anatomy_background, collimator, smooth_background
from dskd.data.synthetic.lesions import SyntheticLesion, add_stenoses
from dskd.data.synthetic.render import render_tubes
from dskd.data.synthetic.style import SynthStyle
from dskd.data.synthetic.trees import coronary_tree

__all__ = ["SyntheticCine", "synth_cine", "contrast_curve", "write_synthetic_cines"]


@dataclass(frozen=True)
class SyntheticCine:
    frames: np.ndarray  # float32 (T, H, W) in [0, 1]
    masks: np.ndarray  # bool (T, H, W)
    contrast: np.ndarray  # (T,) the contrast curve, 1 at its peak
    peak_frame: int  # from 1: the frame of the curve's maximum
    # style.stenoses > 0: each stenosis's truth (data.synthetic.lesions) on each frame, its
    # position moved with the tree; %DS and lengths do not change (the motion scales them alike)
    lesions: tuple[tuple[SyntheticLesion, ...], ...] = ()


def contrast_curve(n_frames: int, start: float, peak: float, shape: float) -> np.ndarray:
    """(n_frames,) gamma-variate contrast at frames 1..n_frames (module docstring)."""
    t = np.arange(1, n_frames + 1, dtype=np.float64)
    x = np.clip((t - start) / (peak - start), 0.0, None)
    return np.where(t > start, x ** shape * np.exp(shape * (1 - x)), 0.0)


def _warp(array: np.ndarray, shift: tuple[float, float], scale: float, order: int) -> np.ndarray:
    """array moved by `shift` px and scaled by `scale` about the image centre."""
    centre = (np.array(array.shape) - 1) / 2
    offset = centre - (centre + np.asarray(shift)) / scale
    return ndimage.affine_transform(array, np.full(2, 1 / scale), offset=offset, order=order,
                                    mode="constant", cval=0.0)


def synth_cine(rng: np.random.Generator, n_frames: int = 30, size: int = 256,
               style: SynthStyle | None = None) -> SyntheticCine:
    """One synthetic cine run (module docstring); deterministic for the state of `rng`."""
    style = style or SynthStyle()
    vessels = coronary_tree(rng, size, style)
    stenoses = []
    if style.stenoses:
        vessels, stenoses = add_stenoses(rng, vessels, style.stenoses)
    filled = [v for v in vessels if v.labelled]
    others = [v for v in vessels if not v.labelled]
    path, mask = render_tubes(filled, size, min_mask_radius=style.min_diameter / 2)
    other_path = render_tubes(others, size)[0] if others else np.zeros((size, size))
    background = anatomy_background if style.background == "anatomy" else smooth_background
    exposure = background(rng, size)
    field = collimator(rng, size, style.collimator_radius, rim_prob=style.rim_prob)
    start = rng.uniform(0, 0.2 * n_frames)
    peak = start + rng.uniform(0.25, 0.45) * n_frames
    contrast = contrast_curve(n_frames, start, peak, rng.uniform(2.0, 4.0))
    period, amplitude = rng.uniform(12, 20), rng.uniform(2, 6, size=2)
    phase, attenuation = rng.uniform(0, 2 * math.pi), rng.uniform(*style.attenuation)
    blur, gamma, noise = rng.uniform(*style.blur), rng.uniform(*style.gamma), rng.uniform(*style.noise)
    frames, masks, lesions = [], [], []
    centre = (size - 1) / 2
    for t in range(n_frames):
        beat = math.sin(2 * math.pi * t / period + phase)
        shift, scale = (amplitude[0] * beat, amplitude[1] * beat), 1 + 0.02 * beat
        lesions.append(tuple(replace(lesion, row=centre + scale * (lesion.row - centre) + shift[0],
                                     col=centre + scale * (lesion.col - centre) + shift[1])
                             for lesion in stenoses))
        moved_path = _warp(path, shift, scale, order=1)
        moved_mask = _warp(mask.astype(np.uint8), shift, scale, order=0).astype(bool) & (field > 0.5)
        image = exposure * np.exp(-attenuation * (contrast[t] * moved_path + other_path))
        image = ndimage.gaussian_filter(image, blur)
        image = image * field + 0.05 * (1 - np.clip(field, 0, 1))
        image = np.clip(image, 0, 1)
        image = image + noise * np.sqrt(image) * rng.normal(size=image.shape)
        frames.append(np.clip(np.clip(image, 0, 1) ** gamma, 0, 1).astype(np.float32))
        masks.append(moved_mask)
    peak_frame = int(np.argmax(contrast)) + 1
    return SyntheticCine(np.stack(frames), np.stack(masks), contrast, peak_frame,
                         tuple(lesions) if stenoses else ())


def write_synthetic_cines(out, *, n: int, n_frames: int = 30, size: int = 256, seed: int = 0,
                          style: SynthStyle | None = None):  # noqa: ANN001, ANN201 (paths)
    """cines/case_XXXX.tif (16-bit, one page a frame), cine_masks/case_XXXX.tif (0/255) and
    cines.json (each cine's true peak frame, from 1, and its contrast curve) under `out`.
    Cine k of seed s depends only on (s, k)."""
    import json
    from pathlib import Path

    import tifffile

    out = Path(out)
    (out / "cines").mkdir(parents=True, exist_ok=True)
    (out / "cine_masks").mkdir(parents=True, exist_ok=True)
    truth = {}
    for k in range(n):
        cine = synth_cine(np.random.default_rng([seed, 1_000_000 + k]), n_frames, size, style)
        name = f"case_{k:04d}"
        tifffile.imwrite(out / "cines" / f"{name}.tif", (cine.frames * 65535).astype(np.uint16),
                         photometric="minisblack")
        tifffile.imwrite(out / "cine_masks" / f"{name}.tif", cine.masks.astype(np.uint8) * 255,
                         photometric="minisblack")
        truth[name] = {"peak_frame": cine.peak_frame, "frames": n_frames,
                       "contrast": [round(float(c), 4) for c in cine.contrast]}
    (out / "cines.json").write_text(json.dumps(truth, indent=1))
    return out
