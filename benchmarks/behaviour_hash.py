"""SHA-256 of the final weights of fixed-seed runs: the proof that a refactor changed no behaviour.

Runs through the `dskd` command only (so it means the same before and after a redesign of the
package), on synthetic data, one thread, and hashes each run's final state dict (names, dtypes,
shapes and bytes, in name order). Cases: the tiny test config under every objective and teacher
policy, and optionally `dskd demo`.

    python benchmarks/behaviour_hash.py --out /tmp/hashes [--demo] [--json hashes.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import torch

TINY = ["model.depth=2", "model.width=4", "data.crop_size=32", "data.batch_size=4",
        "data.samples_per_epoch=8", "data.val_fraction=0.25", "optim.epochs=3", "optim.lr=0.01",
        "run.threads=1", "run.seed=0"]

CASES = {
    "tiny-dskd": [],
    "tiny-dice": ["loss.objective=dice"],
    "tiny-deep_supervision": ["loss.objective=deep_supervision"],
    "tiny-pskd": ["loss.objective=pskd"],
    "tiny-ddl": ["loss.objective=ddl"],
    "tiny-ema": ["teacher.kind=ema"],
    "tiny-whole_images": ["teacher.runs_on=whole_images"],
}


def weights_sha256(checkpoint: Path) -> str:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def dskd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dskd", *args], check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="work folder (data and runs)")
    parser.add_argument("--demo", action="store_true", help="also hash `dskd demo` (about 4 min)")
    parser.add_argument("--json", type=Path, help="write {case: sha256} here")
    args = parser.parse_args(argv)
    data = args.out / "synth"
    if not (data / "images").is_dir():
        dskd("synth", "--out", str(data), "--n", "8", "--size", "64", "--seed", "3")
    hashes = {}
    for name, extra in CASES.items():
        run = args.out / name
        sets = [f"data.root={data}", *TINY, *extra]
        dskd("train", "--config", "tests/fixtures/tiny.yaml", "--out", str(run),
             *[a for s in sets for a in ("--set", s)])
        hashes[name] = weights_sha256(run / "last.pt")
        print(f"{name:<24} {hashes[name]}", flush=True)
    if args.demo:
        dskd("demo", "--out", str(args.out / "demo"))
        hashes["demo"] = weights_sha256(args.out / "demo" / "run" / "last.pt")
        print(f"{'demo':<24} {hashes['demo']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(hashes, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
