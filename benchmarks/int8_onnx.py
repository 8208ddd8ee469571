"""int8 quantisation in ONNX Runtime as a speed lever (issue 13): float32 against static int8
(QDQ and QOperator formats, per-channel weights, calibrated on synthetic angiograms) for the
512x512 network of each width, timed alternately in one process so that both see the same load.

Only a speed-up worth having would be followed by the Dice check on out-of-fold images (int8 is
adopted only if it keeps Dice within 0.5 point); the probabilities and masks of the untrained
networks against float32 are reported here as a first check.

    python benchmarks/int8_onnx.py --widths 4 8 16 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from dskd.data.datasets import image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.export import export_model
from dskd.models.unet import UNet

FORMATS = {"int8 QDQ": QuantFormat.QDQ, "int8 QOperator": QuantFormat.QOperator}


class _Calibration(CalibrationDataReader):
    """The calibration images, one batch of one at a time, as ONNX Runtime asks for them."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = iter(images)

    def get_next(self) -> dict | None:
        image = next(self.images, None)
        return None if image is None else {"image": image}


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure_width(width: int, *, size: int, frames: int, threads: int, calibration: int,
                  folder: Path) -> list[dict]:
    torch.manual_seed(0)
    fp32 = export_model(UNet(depth=4, width=width).eval(), folder / f"w{width}.onnx", check=False)
    images = [image_tensor(synth_angiogram(np.random.default_rng(s), size)[0], 16).numpy()
              for s in range(calibration + 1)]
    prepared = folder / f"w{width}-pre.onnx"
    # symbolic shape inference cannot follow the dynamic height and width; ONNX's own can
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    sessions = {"float32": _session(fp32, threads)}
    for name, quant_format in FORMATS.items():
        out = folder / f"w{width}-{name.split()[1]}.onnx"
        quantize_static(str(prepared), str(out), _Calibration(images[1:]), quant_format=quant_format,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        sessions[name] = _session(out, threads)
    x = images[0]  # not a calibration image
    outputs = {name: s.run(None, {"image": x})[0] for name, s in sessions.items()}
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(frames):  # alternate, so that a change of load hits every format alike
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"image": x})
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["float32"])
    return [{"width": width, "format": name, "ms_per_frame": round(statistics.median(t) * 1e3, 2),
             "fps": round(1 / statistics.median(t), 2),
             "speedup": round(reference / statistics.median(t), 3),
             "max_abs_dp": float(np.abs(outputs[name] - outputs["float32"]).max()),
             "mask_px_changed": float(((outputs[name] > 0.5) != (outputs["float32"] > 0.5)).mean())}
            for name, t in times.items()]


def format_markdown(result: dict) -> str:
    lines = ["# int8 quantisation in ONNX Runtime", "", f"Command: `{result['command']}`  ",
             f"CPU: {result['cpu']}, {result['threads']} thread(s); load average before / after: "
             f"{result['load_before']} / {result['load_after']}; {result['size']}x{result['size']}, "
             f"median of {result['frames']} frames, formats timed alternately.", "",
             "| width | format | ms/frame | frames/s | speed-up | max abs dp | mask px changed |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['width']} | {r['format']} | {r['ms_per_frame']:.1f} | {r['fps']:.1f} | "
                     f"{r['speedup']:.2f}x | {r['max_abs_dp']:.1e} | {100 * r['mask_px_changed']:.3f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--calibration", type=int, default=8, help="synthetic calibration images")
    parser.add_argument("--out", type=Path, default=None, help="folder for int8_onnx.json and .md")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as folder:
        rows = [row for w in args.widths
                for row in measure_width(w, size=args.size, frames=args.frames, threads=args.threads,
                                         calibration=args.calibration, folder=Path(folder))]
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in
             (cpuinfo.read_text().splitlines() if cpuinfo.exists() else []) if line.startswith("model name")]
    cpu = names[0] if names else cpu
    result = {"command": "python benchmarks/int8_onnx.py " + " ".join(
                  [f"--widths {' '.join(map(str, args.widths))}", f"--size {args.size}",
                   f"--frames {args.frames}", f"--threads {args.threads}"]),
              "cpu": cpu, "threads": args.threads, "onnxruntime": ort.__version__, "size": args.size,
              "frames": args.frames, "load_before": load_before,
              "load_after": round(os.getloadavg()[0], 2), "rows": rows}
    text = format_markdown(result)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "int8_onnx.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "int8_onnx.md").write_text(text)


if __name__ == "__main__":
    main()
