"""Rewrite the shipped split files in this folder from their recipes (dskd.data.split_recipes).

    python splits/make_splits.py
"""

from pathlib import Path

from dskd.data.split_recipes import write_split_files

if __name__ == "__main__":
    for path in write_split_files(Path(__file__).parent):
        print(f"wrote {path}")
