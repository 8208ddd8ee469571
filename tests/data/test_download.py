"""dskd data download against a local HTTP server on 127.0.0.1; no test touches the internet."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from dskd.data.download import download_dataset, fetch
from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.archive_server import ArchiveServer, clear_proxies
from tests.data.fixture_trees import make_dca1, save, vessel


def dca1_zip(tmp_path: Path, ks=range(1, 5), *, top: str = "Database_134_Angiograms",
             extra: dict[str, bytes] | None = None) -> bytes:
    folder = make_dca1(tmp_path / "src", ks)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{top}/{path.name}" if top else path.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    clear_proxies(monkeypatch)


def test_broken_transfer_fails_cleanly_then_resumes(tmp_path):
    payload = dca1_zip(tmp_path)
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "data"
    with ArchiveServer(payload) as server:
        server.break_after = 100
        with pytest.raises(DataError, match=rf"transfer broke after 100 of {len(payload)} bytes.*"
                                            r"run the same command again to resume"):
            download_dataset("dca1", dest, url=server.url, sha256=digest)
        assert (dest / "DB_Angiograms_134.zip.part").stat().st_size == 100
        target = download_dataset("dca1", dest, url=server.url, sha256=digest)
        assert server.ranges == [None, "bytes=100-"]
    assert target == dest / "Database_134_Angiograms"
    assert (dest / "DB_Angiograms_134.zip").read_bytes() == payload
    assert not (dest / "DB_Angiograms_134.zip.part").exists()
    assert [c.name for c in read_cases("dca1", dest)] == ["1", "2", "3", "4"]


def test_checksum_mismatch_deletes_the_archive(tmp_path):
    with (ArchiveServer(dca1_zip(tmp_path)) as server,
          pytest.raises(DataError, match="SHA-256 [0-9a-f]{64} differs from the expected 0000")):
        download_dataset("dca1", tmp_path / "d", url=server.url, sha256="0" * 64)
    assert not (tmp_path / "d" / "DB_Angiograms_134.zip").exists()
    assert not (tmp_path / "d" / "Database_134_Angiograms").exists()


def test_a_server_without_range_support_restarts_from_zero(tmp_path):
    payload = dca1_zip(tmp_path)
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "DB_Angiograms_134.zip.part").write_bytes(b"stale bytes of another transfer")
    with ArchiveServer(payload) as server:
        server.honour_range = False
        download_dataset("dca1", dest, url=server.url, sha256=hashlib.sha256(payload).hexdigest())
    assert (dest / "DB_Angiograms_134.zip").read_bytes() == payload


def test_a_complete_part_file_is_taken_when_the_server_answers_416(tmp_path):
    payload = b"0123456789"
    (tmp_path / "a.zip.part").write_bytes(payload)
    with ArchiveServer(payload) as server:
        fetch(server.url, tmp_path / "a.zip")
        assert server.ranges == ["bytes=10-"]
    assert (tmp_path / "a.zip").read_bytes() == payload


def test_already_unpacked_is_not_downloaded_again(tmp_path):
    payload = dca1_zip(tmp_path)
    with ArchiveServer(payload) as server:
        download_dataset("dca1", tmp_path / "d", url=server.url, verify=False)
        download_dataset("dca1", tmp_path / "d", url=server.url, verify=False)
        assert len(server.ranges) == 1
        download_dataset("dca1", tmp_path / "d", url=server.url, verify=False, force=True)
        assert len(server.ranges) == 2


def test_archive_with_another_top_folder_and_macos_extras(tmp_path):
    payload = dca1_zip(tmp_path, top="DB_Angiograms_134/images",
                       extra={"__MACOSX/DB_Angiograms_134/images/._1_gt.pgm": b"x"})
    with ArchiveServer(payload) as server:
        target = download_dataset("dca1", tmp_path / "d", url=server.url, verify=False)
    assert sorted(p.name for p in target.iterdir())[:2] == ["1.pgm", "1_gt.pgm"]
    assert not (tmp_path / "d" / ".dskd-unpack").exists()


def _zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind, message", [
    ("html", "not a zip archive"),
    ("zip slip", "points outside the folder"),
    ("no images", "expected one Database_134_Angiograms folder"),
])
def test_bad_archives(tmp_path, kind, message):
    payload = {"html": lambda: b"<html>moved</html>",
               "zip slip": lambda: dca1_zip(tmp_path, extra={"../evil.txt": b"x"}),
               "no images": lambda: _zip_of({"readme.txt": b"no images"})}[kind]()
    with ArchiveServer(payload) as server, pytest.raises(DataError, match=message):
        download_dataset("dca1", tmp_path / "d", url=server.url, verify=False)
    assert not (tmp_path / "evil.txt").exists()


def test_http_errors_and_unreachable_servers(tmp_path):
    with ArchiveServer(b"") as server:
        server.status = 404
        with pytest.raises(DataError, match=r"DB.zip: HTTP 404 .*check --url"):
            download_dataset("dca1", tmp_path / "d", url=server.url)
        url = server.url
    with pytest.raises(DataError, match="cannot connect"):
        download_dataset("dca1", tmp_path / "d", url=url, timeout=5)


def test_xcad_and_unknown_datasets_explain_themselves(tmp_path):
    with pytest.raises(DataError, match="XCAD has no direct-download URL.*AISIGSJTU/SSVS"):
        download_dataset("xcad", tmp_path)
    with pytest.raises(DataError, match="no download for dataset 'drive'; available: dca1, xcad"):
        download_dataset("drive", tmp_path)


def test_xcad_from_a_given_url_unpacks_its_own_layout(tmp_path):
    png = save(tmp_path / "p.png", vessel()).read_bytes()
    files = {f"XCAD/test/{sub}/{name}.png": png for sub in ("images", "masks") for name in "ab"}
    with ArchiveServer(_zip_of(files)) as server:
        target = download_dataset("xcad", tmp_path / "d", url=server.url)
    assert target == tmp_path / "d" / "XCAD"
    assert [c.name for c in read_cases("xcad", target)] == ["a", "b"]


def test_a_wrong_range_answer_and_a_malformed_checksum(tmp_path):
    payload = b"0123456789"
    (tmp_path / "a.zip.part").write_bytes(b"0123")
    with ArchiveServer(payload) as server:
        server.range_offset = 2  # answers bytes 2- when asked for bytes 4-
        with pytest.raises(DataError, match=r"sent bytes 2-9/10 instead of bytes 4-; deleted a.zip.part"):
            fetch(server.url, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip.part").exists()
    with pytest.raises(DataError, match="--sha256 'abc' is not a SHA-256"):
        download_dataset("dca1", tmp_path, url="http://127.0.0.1:9/x.zip", sha256="abc")
