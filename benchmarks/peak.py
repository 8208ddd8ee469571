"""This CPU's ceilings: a dense-arithmetic peak per data type and a memory bandwidth, each measured
and set against the processor's published per-cycle figure (issue 31).

    python benchmarks/peak.py --threads 2 --out benchmarks/results/peak.md

Per data type, the best rate of a square matrix product over a few sizes (small ones fit the
caches, large ones amortise the packing): float32 and bfloat16 through torch (oneDNN: AMX tiles or
AVX512-BF16 where the CPU has them), int8 through ONNX Runtime's MatMulInteger (the int8 path of
benchmarks/int8_onnx.py; torch's CPU int8 product does not use VNNI or AMX). The published figure
is cores x clock x operations per cycle and core of the widest unit the CPU's flags name, with two
FMA ports (one-port parts, some Xeon Silver and Bronze, have half). The clock is /proc/cpuinfo's
"cpu MHz": on a virtual machine that is the nominal clock, and turbo can exceed it.

Memory bandwidth is a STREAM-style triad (a = b + s * c on arrays far larger than the last-level
cache), counting the three arrays once each. A network whose time is set by moving its activations
rather than by arithmetic is memory-bound: benchmarks/inference.py uses both ceilings (a roofline)
so that a thin network is shown as such, not as a small or above-100% fraction of one peak.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dskd.inference.machine import cpu_name

DTYPES = ("float32", "bfloat16", "int8")

# Published operations per cycle and core (an FMA or dot-product step counts its multiplies and
# adds), widest unit first, as the vendors' optimisation manuals give them for two FMA ports.
PER_CYCLE: dict[str, list[tuple[str, int]]] = {
    "float32": [("avx512f", 64), ("avx2", 32), ("sse2", 8)],
    "bfloat16": [("amx_bf16", 1024), ("avx512_bf16", 128)],
    "int8": [("amx_int8", 2048), ("avx512_vnni", 256), ("avx_vnni", 128), ("avx2", 64)],
}
SIZES = (512, 1024, 2048)


def cpu_flags() -> set[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def clock_ghz() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1]) / 1000
    return None


def published_peak(dtype: str, flags: set[str], ghz: float | None, cores: int) -> dict:
    """{"gops", "per_cycle", "unit"}: the processor's own ceiling for dtype (gops None when the
    CPU names no unit for it or the clock is unknown)."""
    unit, per_cycle = next(((f, n) for f, n in PER_CYCLE[dtype] if f in flags), (None, None))
    gops = cores * ghz * per_cycle if per_cycle and ghz else None
    return {"gops": gops, "per_cycle": per_cycle, "unit": unit}


def best_seconds(call, repeats: int) -> float:
    call()  # warm-up: packing, oneDNN primitive creation, page faults
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - tick)
    return best


def _int8_session(n: int, threads: int):
    import onnxruntime
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["C"])], "int8_matmul",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n]),
         helper.make_tensor_value_info("B", TensorProto.INT8, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.INT32, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def matmul_rate(dtype: str, n: int, threads: int, repeats: int = 5) -> float:
    """GOP/s of one n x n x n product in dtype (2 operations per multiply-add)."""
    if dtype == "int8":
        rng = np.random.default_rng(0)
        session = _int8_session(n, threads)
        feeds = {"A": rng.integers(0, 255, (n, n), dtype=np.uint8),
                 "B": rng.integers(-128, 127, (n, n), dtype=np.int8)}
        seconds = best_seconds(lambda: session.run(None, feeds), repeats)
    else:
        torch.set_num_threads(threads)
        a = torch.randn(n, n, dtype=getattr(torch, dtype))
        b = torch.randn(n, n, dtype=getattr(torch, dtype))
        seconds = best_seconds(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


def measured_peak(dtype: str, threads: int, sizes=SIZES) -> dict:
    """{"gops", "n"}: the best matrix-product rate over sizes."""
    rates = {n: matmul_rate(dtype, n, threads) for n in sizes}
    n = max(rates, key=rates.get)
    return {"gops": rates[n], "n": n, "by_size": {str(k): round(v, 1) for k, v in rates.items()}}


def memory_bandwidth(threads: int, megabytes: int = 256, repeats: int = 5) -> float:
    """GB/s of a triad a = b + 2 c on float32 arrays of `megabytes` each (3 arrays moved)."""
    torch.set_num_threads(threads)
    n = megabytes * 2**20 // 4
    b, c, a = torch.rand(n), torch.rand(n), torch.empty(n)
    seconds = best_seconds(lambda: torch.add(b, c, alpha=2.0, out=a), repeats)
    return 3 * n * 4 / seconds / 1e9


def ceilings(threads: int, sizes=SIZES, bandwidth_mb: int = 256) -> dict:
    """This machine's measured and published ceilings for `threads` cores."""
    flags, ghz = cpu_flags(), clock_ghz()
    peaks = {}
    for dtype in DTYPES:
        published = published_peak(dtype, flags, ghz, threads)
        try:
            measured = measured_peak(dtype, threads, sizes)
        except Exception as error:  # noqa: BLE001 - a missing kernel is reported, not fatal
            measured = {"gops": None, "error": str(error).splitlines()[0]}
        fraction = (measured["gops"] / published["gops"]
                    if measured.get("gops") and published["gops"] else None)
        peaks[dtype] = {"measured": measured, "published": published, "measured_fraction": fraction}
    return {"cpu": cpu_name(), "threads": threads, "clock_ghz": ghz, "peaks": peaks,
            "bandwidth_gbs": memory_bandwidth(threads, bandwidth_mb),
            "bandwidth_mb": bandwidth_mb,
            "flags": sorted(f for f in flags if any(f == u for units in PER_CYCLE.values()
                                                    for u, _ in units))}


def report_lines(result: dict) -> list[str]:
    """The ceilings as markdown: a line naming the CPU, a table per data type, the bandwidth."""
    lines = [f"CPU: {result['cpu']}, {result['threads']} threads, clock {result['clock_ghz']} GHz "
             f"(/proc/cpuinfo), units: {', '.join(result['flags'])}.", "",
             "| data type | measured GOP/s | best size | published GOP/s | unit (ops/cycle/core) | "
             "measured / published |", "|---|---:|---:|---:|---|---:|"]
    for dtype, peak in result["peaks"].items():
        measured, published, fraction = peak["measured"], peak["published"], peak["measured_fraction"]
        cells = [dtype]
        if measured.get("gops"):
            cells += [f"{measured['gops']:.0f}", str(measured["n"])]
        else:
            cells += [f"- ({measured.get('error', '')})", "-"]
        if published["gops"]:
            cells += [f"{published['gops']:.0f}", f"{published['unit']} ({published['per_cycle']})"]
        else:
            cells += ["-", "none"]
        cells.append(f"{100 * fraction:.0f}%" if fraction else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Memory bandwidth (triad, {result['bandwidth_mb']} MB arrays): "
              f"**{result['bandwidth_gbs']:.1f} GB/s**."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads (cores) to measure with (default: all)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="matrix sides tried per data type (default: 512 1024 2048)")
    parser.add_argument("--bandwidth-mb", type=int, default=256, help="triad array size in MB")
    parser.add_argument("--out", default="benchmarks/results/peak.md", help="table (.md) and .json")
    args = parser.parse_args(argv)
    load = round(os.getloadavg()[0], 2)
    result = ceilings(args.threads, args.sizes, args.bandwidth_mb)
    result.update(command="python benchmarks/peak.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  load_before=load, load_after=round(os.getloadavg()[0], 2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = ["# This CPU's ceilings per data type", "", f"Command: `{result['command']}`  ",
             f"Load average before / after: {load} / {result['load_after']}.  ", *report_lines(result)]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
