"""Load test of `dskd serve` on the loopback interface, against `dskd predict` in the same run.

For each concurrency in --concurrency, a fresh `dskd serve` process (default limits: one
inference at a time, a queue of 8) gets --requests POST /v1/segment uploads of one synthetic
512x512 PNG angiogram from that many client threads; each answer is the mask PNG. A 429 is the
server's bounded queue working as intended: the client waits the Retry-After it was given and
sends the same request again. Anything else that is not a 200 counts as an error.
Recorded per level: throughput (masks/s over the level's wall time), latency percentiles of the
answered requests (p50/p95/p99, seconds from sending to the whole answer), the 429s, the errors,
and the server's peak resident memory (VmHWM). `dskd predict` on copies of the same PNG (as
files, --no-overlays) gives the reference frames/s, measured before and after the server levels
and averaged, with the same --threads.

The model is a depth-4 width-8 U-Net with random weights (seeded): speed does not depend on the
weights, and this keeps the benchmark free of a training run.

Both processes run with OMP_WAIT_POLICY=PASSIVE (--omp-wait-policy): on cores that other work
keeps busy, OpenMP's spinning helper threads slow a network run in a process's main thread (where
`dskd predict` runs it) up to 10-fold, while the server, which runs it in worker threads, barely
notices; the same setting for both keeps the comparison about the server, not about that.

    python benchmarks/serve_load.py                  # 200 requests at concurrency 1, 4 and 16
    python benchmarks/serve_load.py --requests 20 --concurrency 1 2 --size 64 --depth 2 --width 4

Bounded: --requests per level and --max-seconds per level (the clients stop when it is spent).
Writes benchmarks/results/serve-load.json and serve-load.md (or --out DIR). Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"
BOUNDARY = "dskd-serve-load"


def write_model(path: Path, *, depth: int, width: int, seed: int = 0) -> Path:
    """A checkpoint with seeded random weights (speed only)."""
    import torch

    from dskd.checkpoint import save_checkpoint
    from dskd.config import config_from_dict, config_to_dict
    from dskd.models import build_model

    config = config_from_dict({"model": {"depth": depth, "width": width},
                               "data": {"crop_size": 2**depth * 4}})
    torch.manual_seed(seed)
    model = build_model(config.model).eval()
    save_checkpoint({"config": config_to_dict(config), "model": model.state_dict(), "epoch": 0,
                     "threshold": 0.5}, path)
    return path


def write_image(path: Path, size: int, seed: int = 0) -> bytes:
    from PIL import Image

    from dskd.data.synthetic import synth_angiogram

    image, _ = synth_angiogram(np.random.default_rng(seed), size)
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path.read_bytes()


def multipart_body(name: str, data: bytes) -> bytes:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_env(omp_wait_policy: str) -> dict[str, str]:
    """The environment of the server and predict processes: the same for both."""
    return {**os.environ, "OMP_WAIT_POLICY": omp_wait_policy} if omp_wait_policy else dict(os.environ)


def start_server(checkpoint: Path, port: int, threads: int, queue: int,
                 env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "dskd", "serve", "--checkpoint", str(checkpoint), "--host", HOST,
               "--port", str(port), "--threads", str(threads), "--queue", str(queue)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"dskd serve exited: {server.stderr.read()[-2000:]}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("dskd serve did not answer /healthz within 120 s")


def post(port: int, body: bytes, timeout: float) -> tuple[int, float, int]:
    """(status, seconds from sending to the whole answer, Retry-After or 0)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    start = time.perf_counter()
    try:
        connection.request("POST", "/v1/segment?output=mask", body=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        response = connection.getresponse()
        response.read()
        retry = int(response.getheader("Retry-After") or 0)
        return response.status, time.perf_counter() - start, retry
    finally:
        connection.close()


def run_level(port: int, body: bytes, *, requests: int, concurrency: int, max_seconds: float,
              retry_cap: float) -> dict:
    """`requests` answered masks from `concurrency` client threads; 429s waited out and resent."""
    lock = threading.Lock()
    state = {"next": 0, "latencies": [], "n_429": 0, "errors": [], "stopped": False}
    end = time.monotonic() + max_seconds

    def client() -> None:
        while True:
            with lock:
                if state["next"] >= requests or time.monotonic() > end:
                    state["stopped"] |= state["next"] < requests
                    return
                state["next"] += 1
            while True:
                try:
                    status, seconds, retry = post(port, body, timeout=max_seconds)
                except OSError as error:
                    with lock:
                        state["errors"].append(f"{type(error).__name__}: {error}")
                    break
                if status == 429 and time.monotonic() < end:
                    with lock:
                        state["n_429"] += 1
                    time.sleep(min(retry or 1, retry_cap))
                    continue
                with lock:
                    if status == 200:
                        state["latencies"].append(seconds)
                    else:
                        state["errors"].append(f"HTTP {status}")
                break

    start = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    latencies = np.array(state["latencies"])
    percentile = (lambda q: float(np.percentile(latencies, q))) if latencies.size else (lambda q: None)
    return {"concurrency": concurrency, "requests": requests, "answered": int(latencies.size),
            "seconds": wall, "throughput": latencies.size / wall, "p50_s": percentile(50),
            "p95_s": percentile(95), "p99_s": percentile(99), "n_429": state["n_429"],
            "errors": len(state["errors"]), "error_examples": state["errors"][:5],
            "stopped_by_time": state["stopped"]}


def predict_rate(checkpoint: Path, images: Path, out: Path, threads: int, env: dict[str, str]) -> float:
    """Frames/s that `dskd predict` reports on the folder (model loading not included)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "dskd", "predict", "--checkpoint", str(checkpoint), str(images),
               "--out", str(out), "--no-overlays", "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    match = re.search(r"([\d.]+) frames/s", done.stdout)
    if match is None:
        raise RuntimeError(f"no frames/s in dskd predict's output: {done.stdout[-500:]}")
    return float(match.group(1))


def write_results(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve-load.json").write_text(json.dumps(result, indent=1) + "\n")
    predict = result["predict_fps_mean"]
    command = f"python benchmarks/serve_load.py {result['command']}".rstrip()
    lines = [
        "# `dskd serve` under load (benchmarks/serve_load.py)", "",
        f"Command: `{command}`" + ("" if result["command"] else " (the defaults)") + "  ",
        f"Model: depth {result['depth']}, width {result['width']} U-Net, **random weights** (speed "
        f"only); {result['size']}x{result['size']} PNG uploads, answers are mask PNGs; the server "
        f"runs 1 inference at a time with a queue of {result['queue']}; torch threads "
        f"{result['threads'] or 'default'}; OMP_WAIT_POLICY={result['omp_wait_policy'] or 'unset'} "
        "for both server and predict.  ",
        f"Machine: {result['machine']}; load average {result['load_before']} before, "
        f"{result['load_after']} after.", "",
        "| concurrency | requests | throughput (masks/s) | vs predict | p50 (s) | p95 (s) | p99 (s) "
        "| 429s (retried) | errors | server peak RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["levels"]:
        seconds = " | ".join("-" if row[k] is None else f"{row[k]:.3f}" for k in ("p50_s", "p95_s", "p99_s"))
        lines.append(f"| {row['concurrency']} | {row['answered']}/{row['requests']} "
                     f"| {row['throughput']:.2f} | {row['throughput'] / predict:.2f} | {seconds} "
                     f"| {row['n_429']} | {row['errors']} | {row['peak_rss_mib']:.0f} |")
    rates = ", ".join(f"{r:.2f}" for r in result["predict_fps"])
    lines += ["", f"`dskd predict` on {result['predict_images']} copies of the same PNG: {rates} frames/s "
              f"(before and after the server levels), mean {predict:.2f}.", ""]
    path = out / "serve-load.md"
    notes = path.read_text().split("<!-- notes -->", 1)[1] if path.is_file() and \
        "<!-- notes -->" in path.read_text() else ""
    path.write_text("\n".join(lines) + ("\n<!-- notes -->" + notes if notes else ""))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="answered requests per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads of server and predict")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue (default: its own)")
    parser.add_argument("--predict-images", type=int, default=50)
    parser.add_argument("--predict-runs", type=int, default=2, help="1: before only; 2: before and after")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="time bound of each level")
    parser.add_argument("--retry-cap", type=float, default=60.0, help="longest wait after a 429")
    parser.add_argument("--omp-wait-policy", default="PASSIVE",
                        help="OMP_WAIT_POLICY of server and predict (default PASSIVE; '' leaves it unset)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)

    result = {"command": " ".join(sys.argv[1:] if argv is None else argv), "size": args.size,
              "depth": args.depth, "width": args.width, "threads": args.threads, "queue": args.queue,
              "omp_wait_policy": args.omp_wait_policy or None,
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "load_before": round(os.getloadavg()[0], 2), "levels": [], "predict_fps": []}
    with tempfile.TemporaryDirectory(prefix="dskd-serve-load-") as tmp:
        tmp = Path(tmp)
        checkpoint = write_model(tmp / "model.pt", depth=args.depth, width=args.width)
        data = write_image(tmp / "angiogram.png", args.size)
        images = tmp / "images"
        images.mkdir()
        for k in range(args.predict_images):
            (images / f"{k:04d}.png").write_bytes(data)
        body = multipart_body("angiogram.png", data)
        env = child_env(args.omp_wait_policy)
        result["predict_fps"].append(predict_rate(checkpoint, images, tmp / "pred", args.threads, env))
        for concurrency in args.concurrency:
            port = free_port()
            server = start_server(checkpoint, port, args.threads, args.queue, env)
            try:
                for _ in range(3):  # warm-up: first calls allocate and pick kernels
                    post(port, body, timeout=60)
                row = run_level(port, body, requests=args.requests, concurrency=concurrency,
                                max_seconds=args.max_seconds, retry_cap=args.retry_cap)
                row["peak_rss_mib"] = peak_rss_mib(server.pid)
            finally:
                server.terminate()
                server.wait(30)
            result["levels"].append(row)
            print(f"concurrency {concurrency}: {row['throughput']:.2f} masks/s, "
                  f"{row['n_429']} x 429, {row['errors']} errors", flush=True)
        if args.predict_runs > 1:
            result["predict_fps"].append(predict_rate(checkpoint, images, tmp / "pred", args.threads, env))
    result["predict_fps_mean"] = float(np.mean(result["predict_fps"]))
    result["predict_images"] = args.predict_images
    result["load_after"] = round(os.getloadavg()[0], 2)
    write_results(result, Path(args.out))
    print(f"dskd predict: {result['predict_fps_mean']:.2f} frames/s; "
          f"wrote {Path(args.out) / 'serve-load.md'}")
    return result


if __name__ == "__main__":
    main()
