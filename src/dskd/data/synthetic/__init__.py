"""Synthetic X-ray coronary angiograms with exact vessel masks (issue 14, docs/synthetic.md).

- style.py: SynthStyle, the generator's settings, and `style_for(realism)` presets;
- trees.py: coronary-like trees (main artery, side branches, crossings, thin unannotated vessels,
  a catheter) as smooth random centrelines with tapering radii;
- background.py: anatomy-like backgrounds, the collimator, real vessel-free backgrounds;
- inpaint.py: `fill_vessels`, the vessel-free background of a real image;
- render.py: Beer-Lambert tubes, blur, noise, gamma: `synth_angiogram`;
- stream.py: `write_synthetic_dataset` (files) and `SyntheticCrops` (generated on the fly).

Deterministic: image k of seed s depends only on (s, k).
"""

from dskd.data.synthetic.background import RealBackgrounds
from dskd.data.synthetic.inpaint import fill_vessels
from dskd.data.synthetic.render import synth_angiogram
from dskd.data.synthetic.stream import SyntheticCrops, synth_case, write_synthetic_dataset
from dskd.data.synthetic.style import Realism, SynthStyle, style_for

__all__ = ["synth_angiogram", "synth_case", "write_synthetic_dataset", "SyntheticCrops", "SynthStyle",
           "Realism", "style_for", "fill_vessels", "RealBackgrounds"]
