"""The readers and shipped splits on the real datasets in ../shared/data (skipped when absent)."""

from pathlib import Path

import pytest

from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.data.splits import apply_split, read_split_file

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def _root(name: str) -> Path:
    root = SHARED / name
    if not root.is_dir():
        pytest.skip(f"{root} not found: real-data checks need the shared datasets (../shared/data)")
    return root


def test_cimat_reader_and_split():
    cases = read_cases("cimat", _root("cimat-angiograms"))
    assert len(cases) == 60 and len({c.name for c in cases}) == 60
    split = read_split_file(REPO / "splits" / "cimat.json")
    parts = {p: apply_split(cases, split, p, source="cimat.json") for p in ("train", "val", "test")}
    assert [len(v) for v in parts.values()] == [32, 8, 20]
    for part in parts.values():
        arrays = load_case(part[0])
        assert arrays.image.shape == (300, 300) and arrays.fov is None
        assert 0.01 < arrays.mask.mean() < 0.15  # vessels are about 5% of a CIMAT image
    assert parts["test"][6].image.parent.name == "testing" and parts["test"][6].name == "testing_7"


def test_drive_reader_and_split():
    cases = read_cases("drive", _root("drive"))
    assert [c.name for c in cases] == [str(k) for k in range(21, 41)]
    split = read_split_file(REPO / "splits" / "drive.json")
    test = apply_split(cases, split, "test", source="drive.json")
    arrays = load_case(test[0])
    assert arrays.image.shape == (584, 565) and arrays.fov.shape == (584, 565)
    assert 0.6 < arrays.fov.mean() < 0.8  # the circular field of view
    # Vessels lie inside it, but for a few manual pixels on its rim (5 of 31,669 in image 25).
    assert (arrays.mask & ~arrays.fov).sum() < 0.005 * arrays.mask.sum()
    assert arrays.image[~arrays.fov].mean() < arrays.image[arrays.fov].mean()


@pytest.mark.parametrize("config, dataset, sizes", [
    ("cimat.yaml", "cimat-angiograms", (32, 8)),
    ("drive.yaml", "drive", (12, 4)),
])
def test_shipped_configs_find_their_data_and_split(config, dataset, sizes):
    from dskd.config import load_config
    from dskd.data.training_split import split_training_cases

    _root(dataset)
    train, val = split_training_cases(load_config(REPO / "configs" / config).data, seed=0)
    assert (len(train), len(val)) == sizes
