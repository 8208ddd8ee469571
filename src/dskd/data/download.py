"""`dskd data download`: fetch a dataset's official archive, verify it, unpack it for its reader.

The transfer goes to <archive>.part and resumes with an HTTP Range request when run again after a
broken transfer; the archive is checked by SHA-256 (when a checksum is known) and as a zip, its
members are checked for unsafe paths, and the result is read back by the dataset's reader.
Standard library only (urllib), so downloading needs no extra dependency.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from dskd import __version__
from dskd.data.readers import read_cases
from dskd.errors import DataError

__all__ = ["DatasetSource", "SOURCES", "download_dataset", "fetch", "sha256_of", "unpack"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 16


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's official archive lives and what it unpacks to."""

    url: str  # empty: no direct download (see `how_to_get`)
    sha256: str  # empty: unknown, only the zip structure is checked
    archive: str  # file name the archive is saved under
    folder: str  # what unpacking makes under --dest
    layout: str  # the reader that reads dest/folder
    expected_cases: int
    marker: str  # regex on archive member names; group "home" is the folder to unpack as `folder`
    content: str  # what that folder holds, for error messages
    how_to_get: str = ""


SOURCES: dict[str, DatasetSource] = {
    # The authors' page is http://personal.cimat.mx:8181/~ivan.cruz/DB_Angiograms.html. The file URL
    # and checksum are those torch-em's DCA1 loader uses (the best known; not reachable from where
    # this was written): if the site moves, pass --url (and --sha256, or --no-verify).
    "dca1": DatasetSource(
        url="http://personal.cimat.mx:8181/~ivan.cruz/DB_Angiograms_files/DB_Angiograms_134.zip",
        sha256="7161638a6e92c6a6e47a747db039292c8a1a6bad809aac0d1fd16a10a6f22a11",
        archive="DB_Angiograms_134.zip",
        folder="Database_134_Angiograms",
        layout="dca1",
        expected_cases=134,
        marker=r"^(?P<home>(?:.*/)?)\d+_gt\.[^/]+$",
        content="<k>.pgm with <k>_gt.pgm",
    ),
    "xcad": DatasetSource(
        url="", sha256="", archive="XCAD.zip", folder="XCAD", layout="xcad", expected_cases=126,
        marker=r"^(?P<home>(?:.*/)?)test/masks/[^/]+$", content="test/images, test/masks, train/",
        how_to_get=("XCAD has no direct-download URL: get XCAD.zip from the links in the README of "
                    "https://github.com/AISIGSJTU/SSVS (Dropbox or Baidu), unzip it and use "
                    "--layout xcad with the folder holding test/ and train/ (docs/datasets.md)"),
    ),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, start: int, timeout: float) -> http.client.HTTPResponse | None:
    """The response for bytes start.. of url; None when the server says the range is past the end."""
    headers = {"User-Agent": f"dskd/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:
            return None  # the partial file already holds everything
        raise DataError(f"{url}: HTTP {error.code} {error.reason}; check --url") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(f"{url}: cannot connect ({reason}); check --url and the network, then run "
                        "the same command again") from None


def fetch(url: str, path: Path, *, timeout: float = 60.0) -> Path:
    """Download url to path through path.part, resuming a .part left by a broken transfer."""
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    response = _open(url, start, timeout)
    if response is None:
        log.info("%s: the server has nothing past byte %d; taking %s as complete", url, start, part)
        part.replace(path)
        return path
    with response:
        content_range = response.headers.get("Content-Range", "")
        resumed = start > 0 and response.status == 206 and content_range.startswith(f"bytes {start}-")
        if response.status == 206 and not resumed:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: the server sent {content_range or 'an unstated range'} instead of "
                            f"bytes {start}-; deleted {part.name}, run the same command again")
        if start and not resumed:
            log.info("%s: the server does not resume; starting again from byte 0", url)
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        received = start
        bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=path.name,
                   disable=None, leave=False)
        try:
            with open(part, "ab" if resumed else "wb") as handle, bar:
                while chunk := response.read(_CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (http.client.HTTPException, OSError) as error:
            raise _broken(url, received, total, part, error) from None
    if total is not None and received != total:
        raise _broken(url, received, total, part, "connection closed early")
    part.replace(path)
    return path


def _broken(url: str, received: int, total: int | None, part: Path, why: object) -> DataError:
    of = f" of {total}" if total is not None else ""
    return DataError(f"{url}: transfer broke after {received}{of} bytes ({why}); run the same "
                     f"command again to resume from {part}")


def _safe_members(archive: zipfile.ZipFile, source: Path) -> list[str]:
    names = archive.namelist()
    for name in names:
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
            raise DataError(f"{source}: archive member '{name}' points outside the folder; refusing "
                            "to unpack it")
    return names


def unpack(archive_path: Path, dest: Path, source: DatasetSource) -> Path:
    """Unpack the archive so that dest/source.folder is what the reader expects, wherever inside
    the archive that folder sits (found by source.marker)."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile:
        raise DataError(f"{archive_path}: not a zip archive (the server may have sent an error page); "
                        "check --url, delete the file and run again") from None
    with archive:
        names = _safe_members(archive, archive_path)
        broken = archive.testzip()
        if broken is not None:
            raise DataError(f"{archive_path}: member '{broken}' is corrupt; delete the archive and "
                            "run again")
        # macOS zips carry __MACOSX/ copies of every file: never the data.
        homes = {m.group("home").rstrip("/") for n in names
                 if not n.startswith("__MACOSX/") and (m := re.match(source.marker, n))}
        if len(homes) != 1:
            found = "none" if not homes else ", ".join(sorted(h or "." for h in homes))
            raise DataError(f"{archive_path}: expected one {source.folder} folder ({source.content}), "
                            f"found {found}; is --url the {source.folder} archive?")
        home = homes.pop()
        staging = dest / ".dskd-unpack"
        shutil.rmtree(staging, ignore_errors=True)
        archive.extractall(staging)
    target = dest / source.folder
    shutil.rmtree(target, ignore_errors=True)
    (staging / home if home else staging).replace(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def download_dataset(name: str, dest: str | Path, *, url: str | None = None,
                     sha256: str | None = None, verify: bool = True, force: bool = False,
                     timeout: float = 60.0) -> Path:
    """Download, verify and unpack dataset `name` under dest; returns the folder its reader reads.

    sha256 None takes the known checksum; verify False skips the checksum (the zip is still
    checked). An unpacked folder already there is kept unless force.
    """
    if name not in SOURCES:
        raise DataError(f"no download for dataset '{name}'; available: {', '.join(SOURCES)}")
    source = SOURCES[name]
    url = url or source.url
    if not url:  # XCAD: --url works with a mirror of XCAD.zip
        raise DataError(source.how_to_get)
    expected = (sha256 if sha256 is not None else source.sha256).lower()
    if expected and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise DataError(f"--sha256 {sha256!r} is not a SHA-256 (64 hexadecimal digits)")
    dest = Path(dest)
    target = dest / source.folder
    if target.is_dir() and not force:
        cases = read_cases(source.layout, target)
        log.info("%s already holds %d cases; --force downloads and unpacks again", target, len(cases))
        return target
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / source.archive
    if force or not archive.is_file():
        archive.unlink(missing_ok=True)
        fetch(url, archive, timeout=timeout)
    if verify and expected:
        actual = sha256_of(archive)
        if actual != expected:
            archive.unlink()
            raise DataError(f"{url}: SHA-256 {actual} differs from the expected {expected}; deleted "
                            f"{archive.name} (run again, or pass --sha256/--no-verify if the "
                            "archive changed upstream)")
        log.info("%s: SHA-256 verified", archive.name)
    elif verify:
        log.warning("%s: no checksum known; only the zip structure is checked", archive.name)
    target = unpack(archive, dest, source)
    cases = read_cases(source.layout, target)
    if len(cases) != source.expected_cases:
        log.warning("%s: %d cases, the official release has %d", target, len(cases),
                    source.expected_cases)
    log.info("%s: %d cases ready (--layout %s)", target, len(cases), source.layout)
    return target
