"""Which floating-point precision to compute in: bfloat16 where the hardware has units for it.

On CPUs, bfloat16 pays only with hardware support (AVX512-BF16 or AMX tiles): without it PyTorch
emulates bf16 through float32 and runs slower. On CUDA devices bf16 autocast needs compute
capability 8.0 or newer. `"auto"` turns bf16 on exactly where it is supported and says why.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["Amp", "cpu_bf16_units", "bf16_supported", "resolve_autocast"]

Amp = Literal[False, True, "auto"]


def cpu_bf16_units() -> str | None:
    """'AMX' or 'AVX512-BF16' when this CPU has bfloat16 units (as PyTorch sees them), else None."""
    cpu = getattr(torch, "cpu", None)
    if cpu is None:
        return None
    # Private but long-standing helpers (torch >= 2.1); absent ones count as no support.
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "AVX512-BF16"
    return None


def bf16_supported(device: torch.device) -> tuple[bool, str]:
    """(bf16 has hardware support on `device`, the reason in words)."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ok, f"{torch.cuda.get_device_name(device)}: bf16 {'supported' if ok else 'not supported'}"
    if device.type == "cpu":
        units = cpu_bf16_units()
        return units is not None, (f"CPU with {units} bf16 units" if units
                                   else "CPU without bf16 units (no AVX512-BF16 or AMX)")
    return False, f"{device.type}: bf16 not used"


def resolve_autocast(amp: Amp, device: torch.device, *, cuda_dtype: str = "bfloat16"
                     ) -> tuple[torch.dtype | None, str]:
    """(autocast dtype or None for float32, why). amp True forces it (bf16 on a CPU, the
    configured dtype on CUDA); "auto" uses bf16 only where `bf16_supported`."""
    if amp is False:
        return None, "float32 (amp off)"
    if device.type == "cuda" and cuda_dtype == "float16":
        return torch.float16, "float16 autocast (asked for)"
    supported, why = bf16_supported(device)
    if amp is True:
        return torch.bfloat16, f"bfloat16 autocast (asked for; {why})"
    if supported:
        return torch.bfloat16, f"bfloat16 autocast (auto: {why})"
    return None, f"float32 (auto: {why})"
