"""Receive the one file of a multipart/form-data request straight into the request's folder.

Parsed here with python-multipart's streaming parser rather than through Starlette's form
support, which spools uploads to the system's temporary folder: this way nothing is written
outside the request's folder, and the size limit stops a request as soon as it is exceeded.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from dskd.data.media import MEDIA_SUFFIXES
from dskd.deploy.serve.errors import RequestError
from dskd.deploy.serve.limits import Deadline

__all__ = ["Upload", "receive_upload", "FIELD", "ACCEPTED_TYPES"]

FIELD = "file"
# Part types a browser or curl gives the formats we read; anything else is refused (415).
ACCEPTED_TYPES = ("image/", "application/dicom", "application/octet-stream")
_HEADER_SLACK = 64 * 1024  # multipart boundaries and headers around the file
# Magic numbers of the formats we read, for uploads whose name has no known suffix.
_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"),
          (b"BM", ".bmp"), (b"GIF8", ".gif"), (b"P2", ".pgm"), (b"P5", ".pgm"), (b"P3", ".ppm"),
          (b"P6", ".ppm"), (b"P1", ".pbm"), (b"P4", ".pbm"))


@dataclass(frozen=True)
class Upload:
    """path: where the file was written; name: the client's file name without folders (for
    messages); stem: the output name, as `dskd predict` names outputs (`<stem>_mask.png`)."""

    path: Path
    name: str
    stem: str
    size: int


class _Parts:
    """Collects what the parser's callbacks report, to be acted on between chunks."""

    def __init__(self) -> None:
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.events: list[tuple[str, Any]] = []  # ("headers", dict) | ("data", bytes) | ("end", None)

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._add("header_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("header_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.events.append(("headers", dict(self.headers))),
            "on_part_data": lambda data, start, end: self.events.append(("data", bytes(data[start:end]))),
            "on_part_end": lambda: self.events.append(("end", None)),
        }

    def _begin(self) -> None:
        self.headers = {}

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""


def _safe_stem(name: str) -> str:
    stem = Path(name).stem if Path(name).suffix.lower() in MEDIA_SUFFIXES else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "upload"


def _suffix(name: str, head: bytes) -> str:
    """The file's own suffix when it is one we read, else one from its first bytes; '' leaves
    it to the DICOM test (the 'DICM' mark at byte 128)."""
    suffix = Path(name).suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        return suffix
    if head[128:132] == b"DICM":
        return ".dcm"
    return next((ext for magic, ext in _MAGIC if head.startswith(magic)), "")


class _FileWriter:
    """Acts on the parser's events: checks the one file part and writes its bytes to `raw`."""

    def __init__(self, raw: Path, *, max_bytes: int, too_large: RequestError) -> None:
        self.raw, self.max_bytes, self.too_large = raw, max_bytes, too_large
        self.handle = None
        self.name: str | None = None
        self.size, self.head, self.files = 0, b"", 0

    def _start_part(self, headers: dict[bytes, bytes]) -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        field = disposition.get(b"name", b"").decode("utf-8", "replace")
        if field != FIELD or b"filename" not in disposition:
            raise RequestError(400, f"unexpected form field '{field}'; send only the file, "
                                    f"in a field named '{FIELD}' (options go in the query)")
        self.files += 1
        if self.files > 1:
            raise RequestError(400, "the request holds more than one file; send one per request")
        part_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if part_type and not part_type.startswith(ACCEPTED_TYPES):
            raise RequestError(415, f"the upload is of type {part_type}, not an image; send PNG, "
                                    "JPEG, TIFF, PGM or DICOM")
        self.name = Path(disposition[b"filename"].decode("utf-8", "replace")
                         .replace("\\", "/")).name or "upload"
        self.handle = open(self.raw, "wb")  # noqa: SIM115 (closed by close(), also on errors)

    def _write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise self.too_large
        if len(self.head) < 132:
            self.head += data[:132]
        self.handle.write(data)

    def handle_events(self, parts: _Parts) -> None:
        for kind, data in parts.events:
            if kind == "headers":
                self._start_part(data)
            elif kind == "data" and self.handle is not None:
                self._write(data)
        parts.events.clear()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _check_request(request: Request, max_bytes: int, too_large: RequestError) -> bytes:
    """The multipart boundary; RequestError for another body type or a declared size too large."""
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data":
        shown = mime.decode("latin-1") or "untyped"
        raise RequestError(415, f"the request body is {shown}; send the image as multipart/form-data "
                                f"in a field named '{FIELD}'")
    if b"boundary" not in params:
        raise RequestError(400, "the multipart request has no boundary in its Content-Type header")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + _HEADER_SLACK:
        raise too_large
    return params[b"boundary"]


async def receive_upload(request: Request, folder: Path, *, max_bytes: int, deadline: Deadline) -> Upload:
    """Write the request's field `file` into folder; RequestError for every malformed request:
    not multipart (415), no or several files, an unknown field, an empty file (400), a part type
    that is not an image's (415), more than max_bytes (413), an upload slower than the deadline (408).
    """
    too_large = RequestError(413, f"the upload is larger than this server's {max_bytes / 1024**2:.3g} "
                                  "MB limit (--max-upload-mb)")
    boundary = _check_request(request, max_bytes, too_large)
    parts = _Parts()
    parser = MultipartParser(boundary, parts.callbacks())
    raw = folder / "upload.part"
    writer = _FileWriter(raw, max_bytes=max_bytes, too_large=too_large)

    async def read_body() -> None:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes + _HEADER_SLACK:
                raise too_large
            parser.write(chunk)
            writer.handle_events(parts)
        parser.finalize()
        writer.handle_events(parts)

    try:
        await asyncio.wait_for(read_body(), timeout=deadline.remaining())
    except asyncio.TimeoutError:
        raise RequestError(408, f"the upload did not arrive within the server's {deadline.seconds:g} s "
                                "limit (--timeout)") from None
    except FormParserError:
        raise RequestError(400, "the multipart body is malformed; send the file as multipart/form-data "
                                f"in a field named '{FIELD}'") from None
    except ClientDisconnect:
        raise RequestError(400, "the client closed the connection before the upload was complete") from None
    finally:
        writer.close()
    if writer.name is None:
        raise RequestError(400, f"the request holds no file; send it in a multipart field named '{FIELD}'")
    if writer.size == 0:
        raise RequestError(400, f"the uploaded file {writer.name} is empty")
    path = folder / f"upload{_suffix(writer.name, writer.head)}"
    raw.rename(path)
    return Upload(path, writer.name, _safe_stem(writer.name), writer.size)
