"""Checkpoints: written atomically, loaded with weights_only=True, carrying the config that made them.

A checkpoint is a plain dict of tensors and plain values:
    format, config (nested dict), model (state dict), epoch (epochs completed), threshold,
    val_dice, and for resuming (last.pt only): optimizer, teacher, best_val_dice, history.

Every problem with a file is one CheckpointError line naming it: missing, unreadable, holding
Python objects (refused, never loaded), no config, weights of another architecture, weights that
are not finite, a stored threshold outside (0, 1).
"""

from __future__ import annotations

import hashlib
import math
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from dskd.config import Config, config_from_dict
from dskd.errors import CheckpointError, DskdError
from dskd.models.unet import UNet, build_model
from dskd.writing import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "check_state_dict", "file_sha256",
           "FORMAT_VERSION"]

FORMAT_VERSION = 1
_SHOWN = 3  # parameter names listed in a mismatch error


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a model file (checkpoint or export), read in 1 MiB blocks: its identity in
    model cards and ablation results, whatever its name or folder."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write to a uniquely named temporary file in the same folder, then rename: a crash never
    leaves half a file, and a failed write (disk full, Ctrl-C) leaves no temporary file behind.
    Raises DskdError (one line) when the folder cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"{path.parent}: cannot create the checkpoint folder "
                              f"({error.strerror or error})") from None
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        # A file object, not a name: torch then lets the OSError of a full disk through as the
        # context of its own RuntimeError, and atomic_path reports it as one line.
        torch.save({"format": FORMAT_VERSION, **payload}, handle)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _refused_object(error: pickle.UnpicklingError) -> str | None:
    """The Python object that torch's weights-only unpickler refused (None: the file is merely not
    a pickle), without torch's advice to load the file unsafely."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return found.group(1) if found else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, on the CPU. weights_only=True: a checkpoint file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():
            # torch warns about a raw pickle's protocol before refusing it: the refusal says it all.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _refused_object(error)
        if refused is not None:
            raise CheckpointError(
                f"{path}: refused: it holds the Python object {refused}, which could run code when "
                "loaded; dskd reads only tensors and plain values, as `dskd train` writes them") from None
        raise CheckpointError(f"{path}: not a readable dskd checkpoint (not a PyTorch file)") from None
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable dskd checkpoint ({_first_line(error)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a dskd checkpoint of format {FORMAT_VERSION}")
    return payload


def _sample(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")


def check_state_dict(model: torch.nn.Module, weights: Any, path: str | Path) -> None:
    """Raise one CheckpointError line when `weights` would not load into `model` exactly (names
    missing or unexpected, shapes that differ) or hold NaN or infinite values."""
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{path}: 'model' is not a state dict of tensors")
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    reshaped = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or reshaped:
        parts = [f"{len(names)} {what} ({_sample(names)})" for names, what in (
            (missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape (file vs config)"))
            if names]
        raise CheckpointError(f"{path}: weights are of another architecture than the stored config: "
                              f"{'; '.join(parts)}")
    broken = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise CheckpointError(f"{path}: {len(broken)} weight tensors hold NaN or infinity "
                              f"({_sample(broken)}); the run that wrote it diverged: use an earlier "
                              "checkpoint or train again")


def load_model(path: str | Path, *, check_threshold: bool = True) -> tuple[UNet, Config, float]:
    """(model in eval mode on the CPU, its config, its decision threshold) from a checkpoint.

    check_threshold: refuse a stored threshold outside (0, 1); a caller that replaces it with the
    user's own passes False.
    """
    payload = load_checkpoint(path)
    for key in ("config", "model"):
        if key not in payload:
            raise CheckpointError(f"{path}: no stored {key}; not a checkpoint written by `dskd train`")
    try:
        config = config_from_dict(payload["config"])
    except DskdError as error:
        raise CheckpointError(f"{path}: stored config is invalid ({error})") from None
    model = build_model(config.model)
    check_state_dict(model, payload["model"], path)
    model.load_state_dict(payload["model"])
    threshold = payload.get("threshold", config.run.threshold_value)
    valid = isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0.0 < threshold < 1.0
    if check_threshold and not valid:
        raise CheckpointError(f"{path}: stored threshold {threshold!r} is not in (0, 1); give a "
                              "threshold in (0, 1) with --threshold to override it")
    return model.eval(), config, float(threshold) if valid else math.nan
