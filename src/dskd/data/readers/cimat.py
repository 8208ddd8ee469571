"""The CIMAT angiograms: training/<n>.png + <n>_gt.png (n = 1..40), testing/<n>.png + <n>_gt.png
(n = 1..20); 300x300 8-bit, ground truth 0/255.

Numbering restarts in each folder (training/7.png and testing/7.png are different angiograms), so
case names carry the folder: "training_7", "testing_7".
"""

from __future__ import annotations

from pathlib import Path

from dskd.data.cases import Case
from dskd.data.readers.common import pair_with_suffix
from dskd.errors import DataError

__all__ = ["read_cimat", "CIMAT_PARTS"]

CIMAT_PARTS = ("training", "testing")


def read_cimat(root: Path) -> list[Case]:
    """Cases of training/ then testing/ (either may be absent, not both)."""
    present = [part for part in CIMAT_PARTS if (root / part).is_dir()]
    if not present:
        raise DataError(f"{root}: no training/ or testing/ folder (expected the CIMAT layout "
                        "training/<n>.png with <n>_gt.png)")
    cases: list[Case] = []
    for part in present:
        cases += pair_with_suffix(root / part, mask_suffix="_gt", name_prefix=f"{part}_")
    return cases
