"""DCA1 as its authors ship it: Database_134_Angiograms/<k>.pgm with <k>_gt.pgm, k = 1..134.

Cervantes-Sanchez F. et al., Appl. Sci. 2019, 9(24):5507. Case names are "<k>" ("1" .. "134").
"""

from __future__ import annotations

from pathlib import Path

from dskd.data.cases import Case
from dskd.data.readers.common import pair_with_suffix
from dskd.errors import DataError

__all__ = ["read_dca1", "DCA1_FOLDER"]

DCA1_FOLDER = "Database_134_Angiograms"


def read_dca1(root: Path) -> list[Case]:
    """root is the folder that holds Database_134_Angiograms/ (as unpacked from the official
    archive), or that folder itself."""
    folder = root / DCA1_FOLDER
    if not folder.is_dir():
        if not any(root.glob("*_gt.*")):
            raise DataError(f"{root}: no {DCA1_FOLDER}/ folder and no <k>_gt.pgm files; point "
                            f"data.root at the folder holding {DCA1_FOLDER}/ "
                            "(dskd data download dca1 --dest DIR makes it)")
        folder = root
    return pair_with_suffix(folder, mask_suffix="_gt")
