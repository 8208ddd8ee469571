"""The model card at GET /v1/model: what the checkpoint (or the exported model) stores about how
it was made, the figures stored with it, and how the server treats an input.

Nothing is invented: a figure the checkpoint does not store is null. The validation Dice is the
one `dskd train` stores in best.pt; test figures exist only when the server is given the
summary.json that `dskd evaluate` wrote for this model (--evaluation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dskd import __version__
from dskd.checkpoint import file_sha256
from dskd.errors import CheckpointError

__all__ = ["model_card", "INPUT_FORMATS"]

INPUT_FORMATS = ("PNG", "JPEG", "TIFF (multi-page: a cine)", "PGM/PPM/PBM", "BMP", "GIF",
                 "DICOM (single frame or cine)")


def _stored(model: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(format, config dict, the other stored values) of a checkpoint or an exported model."""
    if model.suffix.lower() == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
        meta = json.loads(props.get("dskd", "{}"))
        return "onnx", meta.get("config", {}), {"source": meta.get("source"),
                                                 "exported_by": meta.get("dskd_version")}
    from dskd.checkpoint import load_checkpoint

    payload = load_checkpoint(model)
    n_parameters = sum(int(v.numel()) for k, v in payload.get("model", {}).items()
                       if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    return "dskd checkpoint", payload.get("config", {}), {
        "epoch": payload.get("epoch"), "val_dice": payload.get("val_dice"), "parameters": n_parameters}


def _test_figures(evaluation: Path | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    try:
        summary = json.loads(Path(evaluation).read_text())
        per_image = summary["per_image"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{evaluation}: not a summary.json of dskd evaluate ({error})") from None
    return {"source": Path(evaluation).name, "data": summary.get("data"), "n_images": summary.get("n_images"),
            "threshold": summary.get("threshold"),
            "per_image_mean": {k: v.get("mean") for k, v in per_image.items() if isinstance(v, dict)},
            "pooled": summary.get("pooled", {})}


def _input_scale(scale: int) -> str:
    if scale == 1:
        return "the frame's own pixels"
    return f"upscaled {scale}x (bilinear), probabilities averaged back onto the frame's pixels"


def _name(path: str | None) -> str | None:
    return Path(path).name if path else None


def model_card(model: str | Path, *, backend: str, threshold: float, gray: str, size_multiple: int,
               window: int | None, evaluation: Path | None = None,
               limits: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card as a JSON-ready dict (docs/serve.md lists the fields)."""
    model = Path(model)
    kind, config, stored = _stored(model)
    data, run = config.get("data", {}), config.get("run", {})
    return {
        "name": model.name,
        "format": kind,
        "sha256": file_sha256(model),
        "backend": backend,
        "served_by": f"dskd {__version__}",
        "objective": config.get("loss", {}).get("objective"),
        "network": {"architecture": "U-Net with side outputs (main output served)",
                    **config.get("model", {}), "parameters": stored.get("parameters")},
        # Names, not paths: a served page should not show where the training data lies on disk.
        "training": {"data": _name(data.get("root")), "layout": data.get("layout"),
                     "split_file": _name(data.get("split_file")), "fold": data.get("fold"),
                     "epochs": config.get("optim", {}).get("epochs"),
                     "epochs_completed": stored.get("epoch"), "crop_size": data.get("crop_size"),
                     "teacher": config.get("teacher", {}), "seed": run.get("seed")},
        "validation": {"dice": stored.get("val_dice")},
        "test": _test_figures(evaluation),
        "threshold": {"value": threshold, "policy": run.get("threshold")},
        "input": {"formats": list(INPUT_FORMATS), "gray_rule": gray,
                  "scale": _input_scale(config.get("model", {}).get("input_scale", 1)),
                  "standardisation": "each frame z-scored by its own mean and std",
                  "padding": f"edge-padded to a multiple of {size_multiple}, cropped back",
                  "window": window, "test_time_augmentation": False,
                  "dicom": "modality and VOI transforms, MONOCHROME1 inverted"},
        "limits": limits or {},
        "config": config,
        **({"exported_from": stored["source"]} if stored.get("source") else {}),
    }
