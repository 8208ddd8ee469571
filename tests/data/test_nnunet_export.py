"""dskd data export-nnunet: the written dataset is what nnU-Net's format asks, the nnunet reader
reads it back unchanged, and (where nnunetv2 is installed) nnU-Net's own checker accepts it."""

import json

import numpy as np
import pytest

from dskd.cli import main
from dskd.data.cases import load_case
from dskd.data.nnunet_export import export_nnunet, nnunet_dataset_name
from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import make_cimat, make_folder


def _split(tmp_path, train, val, test):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": train, "val": val, "test": test}))
    return path


@pytest.fixture
def exported(tmp_path):
    root = make_cimat(tmp_path / "cimat", 4, 2)
    split = _split(tmp_path, ["training_1", "training_2", "training_3"], ["training_4"],
                   ["testing_1", "testing_2"])
    result = export_nnunet("cimat", root, tmp_path / "raw", dataset_id=7, split_file=split)
    return root, result


def test_layout_of_the_written_dataset(exported):
    _, result = exported
    folder = result.folder
    assert folder.name == "Dataset007_cimat" and (result.n_training, result.n_test) == (4, 2)
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "angiogram"} and meta["labels"] == {"background": 0, "vessel": 1}
    assert meta["numTraining"] == 4 and meta["file_ending"] == ".png"
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == [
        f"training_{k}_0000.png" for k in range(1, 5)]
    assert sorted(p.name for p in (folder / "imagesTs").iterdir()) == [
        "testing_1_0000.png", "testing_2_0000.png"]
    assert sorted(p.name for p in (folder / "labelsTs").iterdir()) == ["testing_1.png", "testing_2.png"]
    from PIL import Image
    label = np.asarray(Image.open(folder / "labelsTr" / "training_1.png"))
    assert label.dtype == np.uint8 and set(np.unique(label)) == {0, 1} and label.sum() == 8
    folds = json.loads((folder / "splits_final.json").read_text())
    assert folds == [{"train": ["training_1", "training_2", "training_3"], "val": ["training_4"]}]


def test_nnunet_reader_reads_back_what_the_exporter_wrote(exported):
    root, result = exported
    original = {c.name: load_case(c) for c in read_cases("cimat", root)}
    back = read_cases("nnunet", result.folder)
    assert [c.name for c in back] == [f"training_{k}" for k in range(1, 5)]
    for case in back:
        arrays = load_case(case)
        assert np.array_equal(arrays.image, original[case.name].image)  # 8-bit source: lossless
        assert np.array_equal(arrays.mask, original[case.name].mask)


def test_16_bit_images_stay_16_bit(tmp_path):
    import tifffile
    root = tmp_path / "f"
    make_folder(root, ["a"])
    (root / "images" / "a.png").unlink()
    values = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000 + 7)
    tifffile.imwrite(root / "images" / "a.tif", values)
    result = export_nnunet("folder", root, tmp_path / "raw", dataset_id=8)
    back, = read_cases("nnunet", result.folder)
    assert np.allclose(load_case(back).image, values / 65535, atol=1e-7)


def test_without_split_file_unlabelled_cases_go_to_imagests(tmp_path):
    root = make_folder(tmp_path / "f", ["a", "b"])
    result = export_nnunet("folder", root, tmp_path / "raw", dataset_id=9, name="angio")
    assert result.folder.name == "Dataset009_angio" and (result.n_training, result.n_test) == (2, 0)
    assert not (result.folder / "splits_final.json").exists()


def test_errors(tmp_path, exported):
    root, result = exported
    with pytest.raises(DataError, match="already exists; remove it or choose another --dataset-id"):
        export_nnunet("cimat", root, result.folder.parent, dataset_id=7)
    with pytest.raises(DataError, match="nnU-Net dataset ids are 1..999"):
        nnunet_dataset_name(1000, "x")
    with pytest.raises(DataError, match="use letters, digits"):
        nnunet_dataset_name(1, "a b")
    with pytest.raises(DataError, match="names case 'training_9'"):
        export_nnunet("cimat", root, tmp_path / "r2", dataset_id=3,
                      split_file=_split(tmp_path, ["training_9"], [], []))


def test_cli(tmp_path, capsys):
    root = make_cimat(tmp_path / "cimat", 2, 1)
    assert main(["data", "export-nnunet", "--layout", "cimat", "--root", str(root), "--dataset-id", "12",
                 "--out", str(tmp_path / "raw")]) == 0
    assert "Dataset012_cimat: 3 training cases, 0 test cases" in capsys.readouterr().out
    assert main(["data", "export-nnunet", "--layout", "cimat", "--root", str(root), "--dataset-id", "0",
                 "--out", str(tmp_path / "raw")]) == 2
    assert "nnU-Net dataset ids are 1..999" in capsys.readouterr().err


def test_nnunet_own_checker_accepts_the_export(exported, capsys):
    try:
        from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
    except ImportError as error:  # nnunetv2 and its dependencies are optional
        pytest.skip(f"nnunetv2 is not importable here ({error}); install it as .ci/run does "
                    "(pip install --no-deps nnunetv2 and the nine packages listed there)")
    _, result = exported
    verify_dataset_integrity(str(result.folder), num_processes=1)  # raises on any problem
    assert "verify_dataset_integrity Done" in capsys.readouterr().out


def test_a_failed_export_leaves_no_partial_dataset(tmp_path, monkeypatch, capsys):
    import dskd.data.nnunet_export as export_module
    from dskd.cli import main
    from dskd.data.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", n=3, size=32, seed=0, progress=False)
    calls = {"n": 0}
    real = export_module._write_case

    def full_disk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "_write_case", full_disk)
    command = ["data", "export-nnunet", "--layout", "folder", "--root", str(data), "--dataset-id", "7",
               "--out", str(tmp_path / "raw")]
    assert main(command) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list((tmp_path / "raw").iterdir()) == []  # nothing half-written, nothing hidden left
    monkeypatch.setattr(export_module, "_write_case", real)
    assert main(command) == 0  # the re-run is not blocked
    (tmp_path / "file").write_text("x")
    assert main([*command[:-1], str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
