"""Enter the looks at test splits taken before the ledger existed (issue 34), from the history.

Every committed result that scored a test split is one look per trained model (or ensemble):
the quality benchmarks (benchmarks/results/quality-*.json: one look per variant and seed, the
runs of a file that repeat another file's figures are not counted twice), the four CIMAT recipes
(benchmarks/results/cimat-recipe*/recipe.json) and the demo's first model on CIMAT testing 1-20
(docs/synthetic.md: "Issue 14's 0.26"). Date and commit are those of the commit that first added
the result file. Written to splits/test-ledger.jsonl, where `dskd evaluate` appends new looks
(dskd.evaluation.ledger); entries from the history carry "recorded_from". Re-running replaces
the history entries and keeps the rest. It prints the looks per test part: split files that name
the same test images (CIMAT's splits/cimat.json and the cross-validation's cimat_cv5.json) count
together.

    python benchmarks/test_ledger_history.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LEDGER = REPO / "splits" / "test-ledger.jsonl"
SPLITS = {"cimat": "splits/cimat.json", "drive": "splits/drive.json"}


def _first_commit(path: Path) -> tuple[str, str]:
    """(commit, ISO date) of the commit that added `path`."""
    out = subprocess.run(["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H %aI", "--",
                          str(path.relative_to(REPO))], capture_output=True, text=True, check=True).stdout
    commit, date = out.strip().splitlines()[-1].split()
    return commit, date


def _quality_looks() -> list[dict]:
    looks, seen = [], set()
    for path in sorted((REPO / "benchmarks" / "results").glob("quality-*.json")):
        result = json.loads(path.read_text())
        dataset = "drive" if "drive" in path.stem else "cimat"
        commit, date = _first_commit(path)
        for variant, figures in result["results"].items():
            for seed, dice in enumerate(figures["dice"]["per_seed"]):
                if (dataset, dice) in seen:  # the same run's figure in another file: one look
                    continue
                seen.add((dataset, dice))
                looks.append({"date": date, "split_file": SPLITS[dataset], "part": "test",
                              "what": f"{result['name']}: {variant}, seed {seed} (best.pt)",
                              "figure": {"dice": round(dice, 4)}, "commit": commit,
                              "command": result["command"], "recorded_from": str(path.relative_to(REPO))})
    return looks


def _recipe_looks() -> list[dict]:
    looks = []
    for path in sorted((REPO / "benchmarks" / "results").glob("cimat-recipe*/recipe.json")):
        recipe = json.loads(path.read_text())
        commit, date = _first_commit(path)
        looks.append({"date": date, "split_file": SPLITS["cimat"], "part": "test",
                      "what": f"recipe: ensemble of {recipe['runs']}, TTA {recipe['chosen_tta']}, "
                              f"threshold {recipe['chosen_threshold']}",
                      "figure": {"dice": round(recipe["test"]["dice"]["mean"], 4)},
                      "commit": commit, "command": recipe["command"],
                      "recorded_from": str(path.relative_to(REPO))})
    return looks


def _demo_look() -> dict:
    return {"date": "2026-11-27", "split_file": SPLITS["cimat"], "part": "test",
            "what": "the demo's model (synthetic angiograms of the first generator only)",
            "figure": {"dice": 0.26}, "commit": "unknown", "command": "unknown (issue 14)",
            "recorded_from": "docs/synthetic.md (issue 14's 0.26); date approximate"}


def main() -> int:
    history = sorted([*_quality_looks(), *_recipe_looks(), _demo_look()], key=lambda look: look["date"])
    kept = []
    if LEDGER.is_file():
        kept = [json.loads(line) for line in LEDGER.read_text().splitlines()
                if line.strip() and "recorded_from" not in json.loads(line)]
    looks = [*history, *kept]
    LEDGER.write_text("".join(json.dumps(look) + "\n" for look in looks))
    for test_images, files in _split_files_by_test_part(looks).items():
        count = sum(look["split_file"] in files for look in looks)
        print(f"{', '.join(sorted(files))} ({len(test_images)} test images): {count} looks")
    return 0


def _split_files_by_test_part(looks: list[dict]) -> dict[frozenset, set[str]]:
    """The ledger's split files grouped by the test images they name: splits/cimat.json and the
    cross-validation's splits/cimat_cv5.json mark the same CIMAT testing 1-20, so a look through
    either is a look at the same images."""
    groups: dict[frozenset, set[str]] = {}
    for split_file in {look["split_file"] for look in looks}:
        test_images = frozenset(json.loads((REPO / split_file).read_text())["test"])
        groups.setdefault(test_images, set()).add(split_file)
    return groups


if __name__ == "__main__":
    raise SystemExit(main())
