"""The FastAPI application of `dskd serve`: the page, the model card, segmentation, health.

    app = create_app(ServeSettings(model=Path("runs/demo/run/best.pt")))
    uvicorn.run(app, host="127.0.0.1", port=8000)          # or dskd.deploy.serve.run_server

Routes: GET / (the page), GET /healthz, GET /v1/model, POST /v1/segment; OpenAPI at /docs.
Every error is `{"error": "<one sentence>"}` with its status; a request's folder (upload,
outputs, previews) is removed once its answer has been sent, whatever happened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hmac
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dskd import __version__
from dskd.deploy.models import load_net
from dskd.deploy.qca_writer import QCASettings
from dskd.deploy.serve.card import model_card
from dskd.deploy.serve.errors import RequestError
from dskd.deploy.serve.limits import Deadline, InferenceGate
from dskd.deploy.serve.origin import OriginGuard
from dskd.deploy.serve.segment import Segmentation, probe_upload, segment_upload
from dskd.deploy.serve.settings import ServeSettings
from dskd.deploy.serve.upload import ACCEPTED_TYPES, FIELD, receive_upload
from dskd.inference import check_window

__all__ = ["create_app", "OUTPUTS"]

log = logging.getLogger(__name__)

Output = Literal["mask", "probabilities", "json", "bundle", "qca"]
OUTPUTS: tuple[str, ...] = ("mask", "probabilities", "json", "bundle")
_MEDIA_TYPES = {".png": "image/png", ".tif": "image/tiff", ".jpg": "image/jpeg"}
_SEGMENT_DOC = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [FIELD],
        "properties": {FIELD: {"type": "string", "format": "binary",
                               "description": "PNG, JPEG, TIFF, PGM/PPM, BMP or DICOM "
                                              "(one frame or a cine)"}}}}}},
}


_SEGMENT_RESPONSES = {200: {"content": {"image/png": {}, "image/tiff": {}, "application/json": {}},
                            "description": "mask/probabilities: PNG (one frame) or multi-page TIFF "
                                           "(a cine); json: per-frame figures; bundle: figures, "
                                           "mask file and previews (the page)"}}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _RemovesFolder:
    """A response that removes the request's folder once it has been sent, or has failed to be."""

    folder: Path

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class _FolderFileResponse(_RemovesFolder, FileResponse):
    pass


class _FolderStreamingResponse(_RemovesFolder, StreamingResponse):
    pass


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _bundle(result: Segmentation) -> Iterator[str]:
    """The page's answer as JSON, written piece by piece: the summary, the mask file as base64,
    and each frame's previews. Not the probability map: uncompressed, it would make the answer
    five times larger; the page asks for it (output=probabilities) when it is wanted."""
    summary = result.summary()
    if result.qca is not None:
        summary["qca"] = result.qca
    head = json.dumps(summary)
    yield head[:-1] + ', "files": {'
    for k, (kind, path) in enumerate(result.files.items()):
        entry = {"filename": path.name, "media_type": _MEDIA_TYPES[path.suffix], "base64": _b64(path)}
        yield ("," if k else "") + json.dumps(kind) + ":" + json.dumps(entry)
    yield '}, "previews": ['
    for k, (image, mask) in enumerate(result.previews):
        yield ("," if k else "") + json.dumps({"image": _b64(image), "mask": _b64(mask)})
    yield "]}"


def _install_error_handlers(app: FastAPI) -> None:
    """Every error as {"error": one sentence} with its status; a bug as a 500 and a log entry."""

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, error: RequestError) -> JSONResponse:
        return _error(error.status, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = " ".join(str(part) for part in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_: Request, error: Exception) -> JSONResponse:
        log.exception("request failed: %s", error)
        return _error(500, "the server failed on this request (a bug); the server log has the details")


def _token_check(token: str | None):  # noqa: ANN202 (a FastAPI dependency)
    """The dependency of every /v1 route: the bearer token, when the server has one."""

    def authorised(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            raise RequestError(401, "this server needs its token: send the header "
                                    "'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})

    return authorised


def _answer(result: Segmentation, info, folder: Path, output: Output) -> Response:  # noqa: ANN001
    """The response for `output`; it removes the request's folder once sent."""
    headers = {"X-Frames": str(info.n_frames),
               "X-Vessel-Fraction": f"{result.summary()['vessel_fraction_mean']:.6f}",
               "X-Threshold": f"{result.threshold:g}"}
    if output in ("json", "qca"):
        shutil.rmtree(folder, ignore_errors=True)
        body = result.summary() if output == "json" else {**result.summary(), "qca": result.qca}
        return JSONResponse(body, headers=headers)
    if output == "bundle":
        response = _FolderStreamingResponse(_bundle(result), media_type="application/json",
                                            headers=headers)
    else:
        path = result.files["mask" if output == "mask" else "probabilities"]
        response = _FolderFileResponse(path, media_type=_MEDIA_TYPES[path.suffix], filename=path.name,
                                       headers=headers)
    response.folder = folder
    return response


def _qca_settings(mm_per_px: float | None) -> QCASettings:
    from dskd.qca import PIXELS, from_user

    return QCASettings(calibration=from_user(mm_per_px) if mm_per_px is not None else PIXELS)


class _Segmenter:
    """POST /v1/segment: upload into a folder of its own, probe, wait for a slot, infer, answer."""

    def __init__(self, settings: ServeSettings, net, threshold: float, gray: str,  # noqa: ANN001
                 window: int | None, gate: InferenceGate, work_root: Path) -> None:
        self.settings, self.net, self.threshold, self.gray = settings, net, threshold, gray
        self.window, self.gate, self.work_root = window, gate, work_root
        # Inferences run on threads of their own, as many as may run at once: the same few
        # threads keep their allocator arenas and kernel caches warm, whatever the clients.
        self.threads = ThreadPoolExecutor(settings.max_concurrent, thread_name_prefix="dskd-inference")

    async def __call__(self, request: Request, output: Output,
                       threshold_override: float | None, mm_per_px: float | None = None,
                       qca: bool = False) -> Response:
        settings = self.settings
        deadline = Deadline(settings.timeout_s)
        self.gate.refuse_if_full()
        folder = self.work_root / uuid.uuid4().hex
        folder.mkdir()
        try:
            upload = await receive_upload(request, folder, max_bytes=settings.max_upload_bytes,
                                          deadline=deadline)
            # Reading a header (a large TIFF's) takes time: off the event loop, so health checks
            # and other clients are answered meanwhile.
            info = await asyncio.get_running_loop().run_in_executor(None, functools.partial(
                probe_upload, upload, max_frames=settings.max_frames, max_side=settings.max_side))
            async with self.gate.slot(deadline):
                work = functools.partial(
                    segment_upload, self.net, upload, info, folder,
                    threshold=self.threshold if threshold_override is None else threshold_override,
                    gray=self.gray, window=self.window, probabilities=output == "probabilities",
                    previews=output == "bundle", deadline=deadline,
                    qca=_qca_settings(mm_per_px) if output == "qca" or (qca and output == "bundle") else None)
                result = await asyncio.get_running_loop().run_in_executor(self.threads, work)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _answer(result, info, folder, output)


def create_app(settings: ServeSettings) -> FastAPI:
    """Load the model (DskdError for a bad one) and build the application around it."""
    settings.check()
    net, threshold, gray = load_net(settings.model, backend=settings.backend, device=settings.device,
                                    threads=settings.threads, compile=settings.compile)
    window = check_window(settings.window, net.size_multiple)
    limits = {"max_upload_mb": settings.max_upload_mb, "max_frames": settings.max_frames,
              "max_side": settings.max_side, "max_concurrent": settings.max_concurrent,
              "queue": settings.queue, "timeout_s": settings.timeout_s}
    card = model_card(settings.model, backend=settings.backend, threshold=threshold, gray=gray,
                      size_multiple=net.size_multiple, window=window, evaluation=settings.evaluation,
                      limits=limits)
    page = resources.files("dskd.deploy.serve").joinpath("static/index.html").read_text("utf-8")
    gate = InferenceGate(settings.max_concurrent, settings.queue)
    own_root = settings.work_dir is None
    work_root = Path(tempfile.mkdtemp(prefix="dskd-serve-")) if own_root else Path(settings.work_dir)
    work_root.mkdir(parents=True, exist_ok=True)
    segmenter = _Segmenter(settings, net, threshold, gray, window, gate, work_root)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        segmenter.threads.shutdown(wait=True)
        if own_root:
            shutil.rmtree(work_root, ignore_errors=True)

    app = FastAPI(title="dskd serve", version=__version__, lifespan=lifespan,
                  description="Coronary artery segmentation of X-ray angiograms (docs/serve.md).")
    app.state.settings, app.state.gate, app.state.work_root = settings, gate, work_root
    _install_error_handlers(app)
    app.add_middleware(OriginGuard, bound_host=settings.host, allowed_hosts=settings.allowed_hosts)
    authorised = _token_check(settings.token)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:  # browsers ask for it; the page declares none (no 404 in the log)
        return Response(status_code=204)

    @app.get("/healthz", summary="liveness: the model is loaded (no token needed)")
    async def healthz() -> dict:
        return {"status": "ok", "model": card["name"], "token_required": settings.token is not None,
                "inferences_pending": gate.pending}

    @app.get("/v1/model", summary="the model card", dependencies=[Depends(authorised)])
    async def model() -> dict:
        return card

    @app.post("/v1/segment", summary="segment one image or cine", dependencies=[Depends(authorised)],
              openapi_extra=_SEGMENT_DOC, response_class=Response, responses=_SEGMENT_RESPONSES)
    async def segment(request: Request,
                      output: Annotated[Output, Query(description="what to answer with")] = "mask",
                      threshold_override: Annotated[float | None, Query(
                          alias="threshold", gt=0, lt=1,
                          description="decision threshold (default: the model's own)")] = None,
                      mm_per_px: Annotated[float | None, Query(
                          gt=0, le=10, description="output=qca: millimetres per pixel (default: a DICOM "
                                                   "upload's own spacing, else pixels)")] = None,
                      qca: Annotated[bool, Query(description="output=bundle: add the QCA (as output=qca)")]
                      = False) -> Response:
        return await segmenter(request, output, threshold_override, mm_per_px, qca)

    log.info("serving %s (%s, threshold %.2f); uploads accepted as %s", settings.model, settings.backend,
             threshold, ", ".join(ACCEPTED_TYPES))
    return app


def run_server(settings: ServeSettings) -> None:
    """Build the application and serve it with uvicorn until interrupted."""
    import uvicorn

    from dskd.deploy.serve.header_deadline import header_deadline_protocol

    app = create_app(settings)
    log.info("the page: http://%s:%d/  (API docs: /docs)",
             f"[{settings.host}]" if ":" in settings.host else settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False,
                http=header_deadline_protocol(settings.header_timeout_s))
