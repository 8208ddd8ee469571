"""The long fuzz run of the input layer (issue 30): mutated inputs of every format through the
readers `dskd predict` uses, and the image formats through the server's upload path.

Each input is a seed of tests/fuzz/harness.py with 1-8 random byte edits (flip, set, cut, insert,
delete). Contract: read, or refused with one line naming the file (a DskdError); through the
server, a 2xx or a 4xx JSON answer of one line, never a 500. Findings are listed with the edits
that produced them (numpy seed and index), so each can be replayed.

    python benchmarks/fuzz_inputs.py --per-format 10000 --server-per-format 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from inference import machine  # noqa: E402

from tests.fuzz.harness import FORMATS, check_one, mutate  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "fuzz-inputs"
KINDS = ("flip", "set", "cut", "insert", "delete")
SERVER_FORMATS = ("png", "png16", "jpeg", "tiff", "tiff_cine", "dicom", "dicom_cine")


def _edits(rng: np.random.Generator) -> list[tuple[str, int, int]]:
    return [
        (KINDS[rng.integers(5)], int(rng.integers(1 << 16)), int(rng.integers(256)))
        for _ in range(int(rng.integers(1, 9)))
    ]


def fuzz_readers(per_format: int, seed: int) -> dict:
    results = {}
    for name, fmt in FORMATS.items():
        rng, data = np.random.default_rng([seed, len(name)]), fmt.seed()
        findings, refused = [], 0
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in tqdm(range(per_format), desc=name, unit="input", leave=False):
                edits = _edits(rng)
                work = Path(folder) / str(k % 8)
                finding = check_one(fmt, mutate(data, edits), work)
                if finding is not None:
                    findings.append(
                        {"index": k, "edits": edits, "problem": finding.problem, "detail": finding.detail}
                    )
        results[name] = {
            "inputs": per_format,
            "findings": len(findings),
            "examples": findings[:5],
            "refused_or_read": per_format - len(findings) - refused,
        }
    return results


def fuzz_server(per_format: int, seed: int) -> dict:
    """POST /v1/segment with mutated uploads to an app on a tiny random model."""
    from fastapi.testclient import TestClient

    from dskd.deploy.serve.app import create_app
    from dskd.deploy.serve.settings import ServeSettings
    from tests.model_files import write_random_checkpoint

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        model = write_random_checkpoint(Path(folder) / "model.pt", depth=2, width=4)
        app = create_app(
            ServeSettings(model=model, work_dir=Path(folder) / "work", max_concurrent=1, queue=64)
        )
        client = TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)
        for name in SERVER_FORMATS:
            fmt, rng = FORMATS[name], np.random.default_rng([seed, 7, len(name)])
            data = fmt.seed()
            statuses: dict[str, int] = {}
            findings = []
            for k in tqdm(range(per_format), desc=f"server {name}", unit="upload", leave=False):
                edits = _edits(rng)
                body = mutate(data, edits)
                response = client.post(
                    "/v1/segment?output=json",
                    files={"file": (f"upload{fmt.suffix}", body, "application/octet-stream")},
                )
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
                if response.status_code >= 500 or (
                    response.status_code >= 400 and ("\n" in response.json().get("error", "\n").strip())
                ):
                    findings.append(
                        {
                            "index": k,
                            "edits": edits,
                            "status": response.status_code,
                            "detail": response.text[:300],
                        }
                    )
            results[name] = {
                "uploads": per_format,
                "statuses": statuses,
                "findings": len(findings),
                "examples": findings[:5],
            }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-format", type=int, default=10_000, help="inputs per format (default 10000)")
    parser.add_argument(
        "--server-per-format",
        type=int,
        default=1_000,
        help="uploads per image format through the server (default 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="numpy seed (default 0)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    readers = fuzz_readers(args.per_format, args.seed)
    server = fuzz_server(args.server_per_format, args.seed) if args.server_per_format else {}
    report = {
        "command": "python benchmarks/fuzz_inputs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
        "readers": readers,
        "server": server,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    lines = [
        "# Fuzzing the input layer (issue 30)",
        "",
        f"Command: `{report['command']}`; {report['seconds']} s on {report['machine']['cpu']}.",
        "",
        "| format | mutated inputs | findings (tracebacks, multi-line or unnamed refusals) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n} | {r['inputs']} | {r['findings']} |" for n, r in readers.items()]
    if server:
        lines += [
            "",
            "Through the server's upload path (POST /v1/segment):",
            "",
            "| format | uploads | answers | findings (5xx, multi-line errors) |",
            "|---|---:|---|---:|",
        ]
        lines += [
            f"| {n} | {r['uploads']} | {', '.join(f'{s}: {c}' for s, c in sorted(r['statuses'].items()))} | "
            f"{r['findings']} |"
            for n, r in server.items()
        ]
    total = sum(r["findings"] for r in readers.values()) + sum(r["findings"] for r in server.values())
    lines += ["", f"Findings in all: {total} (examples with their edits in the JSON)."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if total == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
