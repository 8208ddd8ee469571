"""What `dskd serve` runs and the limits it keeps, checked once before the server starts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from dskd.deploy.predict import DEFAULT_WINDOW
from dskd.errors import DskdError
from dskd.inference.backends import Backend

__all__ = ["ServeSettings", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches: 127.0.0.0/8, ::1, localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


@dataclass(frozen=True)
class ServeSettings:
    """model: a checkpoint (.pt) or an exported model (.onnx, backend onnxruntime).

    Limits (docs/serve.md): max_upload_mb per request; max_frames per file; max_side, the longest
    image side in pixels; max_concurrent inferences at once and `queue` more waiting (beyond that:
    429 with Retry-After); timeout_s for a whole request (upload, wait and inference: 504 past it).
    token: the bearer token every /v1 call must carry (required off loopback). window: tile frames
    with a side above it, as `dskd predict --window` (None: never tile). evaluation: a
    summary.json of `dskd evaluate` shown in the model card. work_dir: where the per-request
    folders are made (None: a temporary folder of the server's own, removed when it stops).
    """

    model: Path
    backend: Backend = "torch"
    device: str = "cpu"
    threads: int = 0
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides the bound address (origin.py)
    max_upload_mb: float = 256.0
    max_frames: int = 500
    max_side: int = 4096
    max_concurrent: int = 1
    queue: int = 8
    timeout_s: float = 180.0
    header_timeout_s: float = 20.0  # a connection's request headers, at most (header_deadline.py)
    compile: bool = False  # torch backend through torch.compile (inference.backends.TorchNet)
    window: int | None = DEFAULT_WINDOW
    evaluation: Path | None = None
    work_dir: Path | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def check(self) -> None:
        """Raise DskdError naming the first bad value and its fix."""
        if not is_loopback(self.host) and not self.token:
            raise DskdError(f"--host {self.host} makes the model reachable from other machines; "
                            "give --token (or DSKD_SERVE_TOKEN) so every API call must carry it")
        if self.token is not None and len(self.token) < 16:
            raise DskdError(f"--token is {len(self.token)} characters; use at least 16 "
                            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
        positive = {"--max-upload-mb": self.max_upload_mb, "--max-frames": self.max_frames,
                    "--max-side": self.max_side, "--max-concurrent": self.max_concurrent,
                    "--timeout": self.timeout_s, "--header-timeout": self.header_timeout_s}
        for flag, value in positive.items():
            if not value > 0:
                raise DskdError(f"{flag} {value} must be > 0")
        if self.queue < 0:
            raise DskdError(f"--queue {self.queue} must be >= 0 (0: refuse whatever cannot start at once)")
        if self.threads < 0:
            raise DskdError(f"--threads {self.threads} must be >= 0 (0: the library's default)")
        if not 0 <= self.port <= 65535:
            raise DskdError(f"--port {self.port} must be in 0..65535")
        if self.evaluation is not None and not Path(self.evaluation).is_file():
            raise DskdError(f"--evaluation {self.evaluation}: file not found (a summary.json "
                            "written by dskd evaluate)")
