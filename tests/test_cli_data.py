"""dskd data download / dskd data check through the command line."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from dskd.cli import main
from tests.data.archive_server import ArchiveServer, clear_proxies
from tests.data.fixture_trees import make_cimat, make_dca1, make_xcad

SPLITS = Path(__file__).resolve().parents[1] / "splits"


def test_data_download_then_check(tmp_path, monkeypatch, capsys):
    clear_proxies(monkeypatch)
    folder = make_dca1(tmp_path / "src", range(1, 4))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, f"Database_134_Angiograms/{path.name}")
    payload = buffer.getvalue()
    dest = tmp_path / "data"
    with ArchiveServer(payload) as server:
        server.break_after = 50
        assert main(["data", "download", "dca1", "--dest", str(dest), "--url", server.url]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "transfer broke after 50" in err
        assert main(["data", "download", "dca1", "--dest", str(dest), "--url", server.url,
                     "--sha256", hashlib.sha256(payload).hexdigest()]) == 0
    assert "dca1 is ready in" in capsys.readouterr().out
    assert main(["data", "check", str(dest), "--layout", "dca1"]) == 0
    assert capsys.readouterr().out.startswith("3 cases (3 labelled, 0 with a field of view), sizes 8x8")


def test_data_check_with_a_shipped_split(tmp_path, capsys):
    make_cimat(tmp_path, n_training=40, n_testing=20)
    assert main(["data", "check", str(tmp_path), "--layout", "cimat",
                 "--split-file", str(SPLITS / "cimat.json")]) == 0
    assert "train: 32, val: 8, test: 20" in capsys.readouterr().out
    (tmp_path / "testing" / "20.png").unlink()
    (tmp_path / "testing" / "20_gt.png").unlink()
    assert main(["data", "check", str(tmp_path), "--layout", "cimat",
                 "--split-file", str(SPLITS / "cimat.json")]) == 2
    assert "split 'test' names case 'testing_20' which is not in the dataset" in capsys.readouterr().err


def test_data_check_resolves_xcad_positions_to_names(tmp_path, capsys):
    names = [f"{k:05d}_{k % 7}" for k in range(126)]
    make_xcad(tmp_path, names, n_unlabelled=0)
    out = tmp_path / "xcad_names.json"
    assert main(["data", "check", str(tmp_path), "--layout", "xcad",
                 "--split-file", str(SPLITS / "xcad.json"), "--resolve", str(out)]) == 0
    assert "train: 72, val: 12, test: 42" in capsys.readouterr().out
    resolved = json.loads(out.read_text())
    positions = json.loads((SPLITS / "xcad.json").read_text())
    assert resolved["test"] == [names[p - 1] for p in positions["test"]]


@pytest.mark.parametrize("args, message", [
    (["data", "download", "xcad", "--dest", "x"], "XCAD has no direct-download URL"),
    (["data", "check", "nowhere", "--layout", "cimatt"], "did you mean 'cimat'"),
    (["data", "check", "nowhere", "--resolve", "x.json"], "give --split-file too"),
])
def test_data_errors_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
