"""Start-up time of the command line (issue 30): `dskd --help`, and `dskd predict` up to its
first line of output (a missing checkpoint, so the time is the imports and nothing else).
Medians of --repeats runs, each a fresh process.

    python benchmarks/startup.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from inference import machine  # noqa: E402

OUT = Path(__file__).parent / "results" / "startup"
COMMANDS = {
    "dskd --help": ["--help"],
    "dskd predict (to its first line)": ["predict", "--checkpoint", "missing.pt", "x.png", "--out", "/tmp/x"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    rows = {}
    load = os.getloadavg()[0]
    for name, arguments in COMMANDS.items():
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dskd", *arguments], capture_output=True)
            seconds.append(time.perf_counter() - start)
        rows[name] = round(statistics.median(seconds), 2)
    report = {
        "command": "python benchmarks/startup.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "load_average": round(load, 2),
        "median_seconds": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    lines = [
        "# Start-up time of the command line",
        "",
        f"Command: `{report['command']}`; CPU {report['machine']['cpu']}; load average {load:.2f} "
        f"(2 cores); median of {args.repeats} fresh processes.",
        "",
        "| command | seconds |",
        "|---|---:|",
        *(f"| `{k}` | {v} |" for k, v in rows.items()),
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
