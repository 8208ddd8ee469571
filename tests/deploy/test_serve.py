"""`dskd serve` through FastAPI's test client: every format and a cine give `dskd predict`'s mask
pixel for pixel; every limit, every bad input and the token give their status and one sentence;
the server keeps serving and leaves no request folder behind."""

from __future__ import annotations

import io
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from dskd.cli import main
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.export import export_onnx
from dskd.deploy.outputs import choose_outputs
from dskd.deploy.predict import predict_files
from dskd.deploy.serve import ServeSettings, is_loopback
from dskd.errors import DskdError
from tests.data.dicom_files import write_dicom
from tests.model_files import torch_threads, write_random_checkpoint

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from fastapi.testclient import TestClient as _StarletteClient

from dskd.deploy.serve import app as serve_app  # noqa: E402
from dskd.deploy.serve import segment as serve_segment  # noqa: E402
from dskd.deploy.serve.app import create_app  # noqa: E402

TOKEN = "a-token-of-more-than-16-characters"


class TestClient(_StarletteClient):
    """Requests addressed to the server's own loopback address, as a browser on the page sends
    them (the server refuses other Host names: dskd.deploy.serve.origin)."""

    def __init__(self, app, **kwargs) -> None:  # noqa: ANN001
        super().__init__(app, base_url="http://127.0.0.1:8000", **kwargs)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _angiogram(size: int, seed: int) -> np.ndarray:
    return synth_angiogram(np.random.default_rng(seed), size)[0]


def _cine(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size) 12-bit frames of a synthetic angiogram drifting sideways."""
    image = _angiogram(size + n, seed)
    return np.stack([(image[:size, k:k + size] * 4095).astype(np.uint16) for k in range(n)])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", depth=2, width=4)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """One file per format, odd sizes included, and two cines (DICOM with a frame time, TIFF)."""
    root = tmp_path_factory.mktemp("inputs")
    gray = (_angiogram(80, 1)[:61, :70] * 255).astype(np.uint8)
    files = {name: root / name for name in ("odd.png", "photo.jpg", "page.tif", "plain.pgm", "scan.bmp")}
    for name, path in files.items():
        Image.fromarray(gray if name != "photo.jpg" else np.stack([gray] * 3, -1)).save(path)
    files["frame.dcm"] = write_dicom(root / "frame.dcm", (_angiogram(40, 2)[:37] * 4095).astype(np.uint16),
                                     bits_stored=12)
    files["cine.dcm"] = write_dicom(root / "cine.dcm", 4095 - _cine(5, 48), bits_stored=12,
                                    photometric="MONOCHROME1", frame_time_ms=80.0)
    files["stack.tif"] = root / "stack.tif"
    tifffile.imwrite(files["stack.tif"], _cine(3, 33, seed=3), photometric="minisblack")
    return {path.name: path for path in files.values()}


@pytest.fixture(scope="module")
def predicted(checkpoint, inputs, tmp_path_factory) -> Path:
    """What `dskd predict` writes for the same files: the reference for every comparison."""
    out = tmp_path_factory.mktemp("predicted")
    report = predict_files(checkpoint, list(inputs.values()), out,
                           choose_outputs(probabilities=True, overlays=False))
    assert not report.failures
    return out


@pytest.fixture()
def work(tmp_path) -> Path:
    return tmp_path / "work"


def _client(checkpoint: Path, work: Path, **limits) -> TestClient:
    return TestClient(create_app(ServeSettings(model=checkpoint, work_dir=work, **limits)))


@pytest.fixture()
def client(checkpoint, work) -> TestClient:
    return _client(checkpoint, work)


def _post(client: TestClient, path: Path, *, output: str = "mask", content_type: str | None = None,
          name: str | None = None, headers: dict | None = None):
    part = (name or path.name, path.read_bytes(), content_type or "application/octet-stream")
    return client.post(f"/v1/segment?output={output}", files={"file": part}, headers=headers)


def _pixels(data: bytes, suffix: str) -> np.ndarray:
    return tifffile.imread(io.BytesIO(data)) if suffix == ".tif" else np.asarray(Image.open(io.BytesIO(data)))


def _reference(predicted: Path, stem: str, kind: str, cine: bool) -> np.ndarray:
    path = predicted / f"{stem}_{kind}{'.tif' if cine else '.png'}"
    return tifffile.imread(path) if cine else np.asarray(Image.open(path))


def _assert_error(response, status: int, *words: str) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error"}
    message = body["error"]
    assert message.count("\n") == 0 and message.count(". ") == 0, message  # one sentence
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("name", ["odd.png", "photo.jpg", "page.tif", "plain.pgm", "scan.bmp", "frame.dcm"])
def test_each_format_gives_the_mask_of_dskd_predict(client, inputs, predicted, work, name):
    response = _post(client, inputs[name])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    stem = Path(name).stem
    assert f'filename="{stem}_mask.png"' in response.headers["content-disposition"]
    mask = _pixels(response.content, ".png")
    np.testing.assert_array_equal(mask, _reference(predicted, stem, "mask", cine=False))
    assert set(np.unique(mask)) <= {0, 255} and 0 < mask.mean() < 255
    assert float(response.headers["x-vessel-fraction"]) == pytest.approx((mask > 0).mean(), abs=1e-6)
    assert not any(work.iterdir())


@pytest.mark.parametrize("name, frames", [("cine.dcm", 5), ("stack.tif", 3)])
def test_a_cine_gives_a_multipage_tiff_equal_to_dskd_predict(client, inputs, predicted, work, name, frames):
    stem = Path(name).stem
    for output, kind in (("mask", "mask"), ("probabilities", "prob")):
        response = _post(client, inputs[name], output=output)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/tiff"
        pages = _pixels(response.content, ".tif")
        assert pages.shape[0] == frames
        np.testing.assert_array_equal(pages, _reference(predicted, stem, kind, cine=True))
    assert not any(work.iterdir())


def test_json_gives_per_frame_figures_and_the_stated_frame_rate(client, inputs, predicted):
    response = _post(client, inputs["cine.dcm"], output="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["file"], body["kind"], body["frames"], body["height"], body["width"]) == \
        ("cine.dcm", "dicom", 5, 48, 48)
    assert body["fps"] == pytest.approx(12.5) and body["fps_stated"] is True  # Frame Time 80 ms
    masks = _reference(predicted, "cine", "mask", cine=True) > 0
    assert [f["frame"] for f in body["per_frame"]] == [1, 2, 3, 4, 5]
    for figures, mask in zip(body["per_frame"], masks, strict=True):
        assert figures["vessel_fraction"] == pytest.approx(mask.mean())
        assert figures["ms_per_frame"] > 0
    assert body["vessel_fraction_mean"] == pytest.approx(masks.mean())


def test_bundle_carries_the_files_and_one_preview_per_frame(client, inputs, predicted):
    import base64

    body = _post(client, inputs["stack.tif"], output="bundle").json()
    assert body["files"]["mask"]["filename"] == "stack_mask.tif"
    assert body["files"]["mask"]["media_type"] == "image/tiff"
    assert set(body["files"]) == {"mask"}  # the probability map is asked for separately
    mask = _pixels(base64.b64decode(body["files"]["mask"]["base64"]), ".tif")
    np.testing.assert_array_equal(mask, _reference(predicted, "stack", "mask", cine=True))
    assert len(body["previews"]) == 3
    preview = _pixels(base64.b64decode(body["previews"][1]["mask"]), ".png")
    np.testing.assert_array_equal(preview, mask[1])
    image = Image.open(io.BytesIO(base64.b64decode(body["previews"][0]["image"])))
    assert (image.format, image.size) == ("JPEG", (33, 33))


def test_threshold_query_overrides_the_models(client, inputs, checkpoint, tmp_path):
    response = client.post("/v1/segment?threshold=0.8",
                           files={"file": ("odd.png", inputs["odd.png"].read_bytes(), "image/png")})
    assert response.headers["x-threshold"] == "0.8"
    predict_files(checkpoint, [inputs["odd.png"]], tmp_path / "p", choose_outputs(overlays=False),
                  threshold=0.8)
    np.testing.assert_array_equal(_pixels(response.content, ".png"),
                                  np.asarray(Image.open(tmp_path / "p" / "odd_mask.png")))


def test_model_card_reports_what_the_checkpoint_stores(tmp_path, work):
    from dskd.checkpoint import load_checkpoint, save_checkpoint

    path = write_random_checkpoint(tmp_path / "m.pt", threshold=0.35)
    payload = load_checkpoint(path)
    payload["val_dice"], payload["epoch"] = 0.8125, 7
    payload["config"]["loss"]["objective"] = "deep_supervision"
    payload["config"]["data"].update(root="/home/someone/private/data/cimat", layout="cimat")
    save_checkpoint(payload, path)
    evaluation = tmp_path / "summary.json"
    evaluation.write_text('{"n_images": 20, "threshold": 0.35, "data": "data/cimat",'
                          ' "per_image": {"dice": {"mean": 0.771, "std": 0.05}}, "pooled": {"dice": 0.78}}')
    client = TestClient(create_app(ServeSettings(model=path, work_dir=work, evaluation=evaluation,
                                                 max_frames=42)))
    card = client.get("/v1/model").json()
    assert card["validation"] == {"dice": 0.8125}
    assert card["threshold"] == {"value": 0.35, "policy": "fixed"}
    assert card["objective"] == "deep_supervision"
    assert (card["training"]["data"], card["training"]["layout"], card["training"]["epochs_completed"]) == \
        ("cimat", "cimat", 7)  # the folder's name, never its path on the server's disk
    assert card["input"]["gray_rule"] == "luma" and card["input"]["window"] == 512
    assert "multiple of 4" in card["input"]["padding"]  # depth 2
    assert card["network"]["depth"] == 2 and card["network"]["parameters"] > 1000
    assert card["test"]["per_image_mean"] == {"dice": 0.771} and card["test"]["n_images"] == 20
    assert card["limits"]["max_frames"] == 42
    assert card["config"]["model"]["width"] == 4 and len(card["sha256"]) == 64


def test_onnx_model_serves_the_same_masks_and_its_card(checkpoint, inputs, predicted, work, tmp_path):
    onnx_path = export_onnx(checkpoint, tmp_path / "model.onnx")
    client = TestClient(create_app(ServeSettings(model=onnx_path, backend="onnxruntime", work_dir=work)))
    card = client.get("/v1/model").json()
    assert (card["format"], card["backend"], card["validation"]["dice"]) == ("onnx", "onnxruntime", None)
    assert card["exported_from"] == str(checkpoint)
    response = _post(client, inputs["cine.dcm"], output="mask")
    onnx_pred = tmp_path / "onnx_pred"
    predict_files(onnx_path, [inputs["cine.dcm"]], onnx_pred, backend="onnxruntime")
    np.testing.assert_array_equal(_pixels(response.content, ".tif"),
                                  tifffile.imread(onnx_pred / "cine_mask.tif"))


# ------------------------------------------------------------------------------- bad inputs

def _bad_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    not_dicom = tmp_path / "scan.dcm"
    not_dicom.write_bytes(b"\0" * 300)
    cut = write_dicom(tmp_path / "cut.dcm", _cine(6, 32), bits_stored=12)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) - 32 * 32 * 2 * 3])  # frames 4..6 missing
    return {"text": text, "fake": fake, "not_dicom": not_dicom, "cut": cut}


def test_each_bad_input_gets_one_sentence_and_the_server_keeps_serving(client, inputs, work, tmp_path):
    bad = _bad_files(tmp_path)
    png = inputs["odd.png"].read_bytes()

    def multipart(body: bytes, content_type: str = "multipart/form-data; boundary=b"):
        return client.post("/v1/segment", content=body, headers={"content-type": content_type})

    def files(*parts, query: str = ""):
        return client.post(f"/v1/segment{query}", files=[("file", part) for part in parts])
    cases = [
        (_post(client, bad["text"], content_type="text/plain"), 415, ("text/plain", "not an image")),
        (_post(client, bad["text"]), 415, ("notes.txt", "not an image")),
        (_post(client, bad["fake"], content_type="image/png"), 422, ("fake.png", "unreadable image")),
        (_post(client, bad["not_dicom"]), 422, ("scan.dcm", "not a readable DICOM")),
        (_post(client, bad["cut"]), 422, ("cut.dcm", "frame 4 of 6")),
        (multipart(png, "image/png"), 415, ("image/png", "multipart/form-data")),
        (files(("empty.png", b"", "image/png")), 400, ("empty.png", "empty")),
        (client.post("/v1/segment", data={"name": "x"}, files={"other": ("a.png", b"x", "image/png")}), 400,
         ("unexpected form field",)),
        (multipart(b"--b--\r\n"), 400, ("no file",)),
        (files(("a.png", png, "image/png"), ("b.png", png, "image/png")), 400, ("more than one file",)),
        (multipart(b"--x\r\nbroken", "multipart/form-data"), 400, ("no boundary",)),
        (files(("a.png", png, "image/png"), query="?output=video"), 422, ("output", "'mask'")),
        (files(("a.png", png, "image/png"), query="?threshold=1.5"), 422, ("threshold", "less than 1")),
        (client.get("/v1/nothing"), 404, ("Not Found",)),
    ]
    for response, status, words in cases:
        _assert_error(response, status, *words)
        assert not any(work.iterdir()), f"request folder left behind after {status}"
    assert _post(client, inputs["odd.png"]).status_code == 200  # still serving


# ----------------------------------------------------------------------------------- limits

def test_upload_size_limit_refuses_declared_and_streamed_bodies(checkpoint, work, inputs):
    client = _client(checkpoint, work, max_upload_mb=0.004)  # 4 kB
    huge = work.parent / "huge.png"
    huge.write_bytes(b"\x89PNG" + bytes(200_000))  # refused on its Content-Length, unread
    _assert_error(_post(client, huge), 413, "0.004 MB", "--max-upload-mb")
    big = inputs["scan.bmp"]  # 61x70 8-bit BMP: about 5.4 kB, counted as it arrives
    _assert_error(_post(client, big), 413, "0.004 MB", "--max-upload-mb")
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scan.bmp\"\r\n"
            "Content-Type: image/bmp\r\n\r\n")
    body = head.encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()

    def chunks():  # no Content-Length: the limit must stop the stream itself
        for start in range(0, len(body), 512):
            yield body[start:start + 512]

    response = client.post("/v1/segment", content=chunks(),
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    _assert_error(response, 413, "--max-upload-mb")
    assert not any(work.iterdir())
    small = work.parent / "small.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(small)
    assert _post(client, small).status_code == 200


def test_frame_and_side_limits(checkpoint, work, inputs):
    client = _client(checkpoint, work, max_frames=4, max_side=64)
    _assert_error(_post(client, inputs["cine.dcm"]), 413, "cine.dcm", "5 frames", "up to 4", "--max-frames")
    _assert_error(_post(client, inputs["odd.png"]), 413, "odd.png", "70x61", "up to 64", "--max-side")
    assert _post(client, inputs["stack.tif"]).status_code == 200  # 3 frames of 33x33
    assert not any(work.iterdir())


def _blocking_segment(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Make inferences wait for `release` once they hold a slot; `started` tells that one does."""
    started, release = threading.Event(), threading.Event()
    real = serve_app.segment_upload

    def held(*args, **kwargs):
        started.set()
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(serve_app, "segment_upload", held)
    return started, release


def test_full_queue_answers_429_with_retry_after(checkpoint, work, inputs, monkeypatch):
    started, release = _blocking_segment(monkeypatch)
    results: dict[str, int] = {}
    with TestClient(create_app(ServeSettings(model=checkpoint, work_dir=work, max_concurrent=1,
                                             queue=1))) as client:
        def send(key: str) -> None:
            results[key] = _post(client, inputs["odd.png"]).status_code

        running = threading.Thread(target=send, args=("running",))
        running.start()
        assert started.wait(10)
        waiting = threading.Thread(target=send, args=("waiting",))
        waiting.start()
        deadline = time.monotonic() + 10
        while client.get("/healthz").json()["inferences_pending"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        refused = _post(client, inputs["odd.png"])
        _assert_error(refused, 429, "busy", "1 inference(s) running", "1 waiting", "retry after")
        assert int(refused.headers["retry-after"]) >= 1
        release.set()
        running.join(20)
        waiting.join(20)
    assert results == {"running": 200, "waiting": 200}
    assert not any(work.iterdir())


def test_timeout_while_waiting_and_while_running(checkpoint, work, inputs, monkeypatch):
    started, release = _blocking_segment(monkeypatch)
    results = {}
    with TestClient(create_app(ServeSettings(model=checkpoint, work_dir=work, timeout_s=1.0))) as client:
        def send() -> None:
            results["running"] = _post(client, inputs["cine.dcm"])

        running = threading.Thread(target=send)
        running.start()
        assert started.wait(10)
        _assert_error(_post(client, inputs["odd.png"]), 504, "no inference slot", "1 s limit", "--timeout")
        time.sleep(0.3)  # the running request is past its own second by now
        release.set()
        running.join(20)
        _assert_error(results["running"], 504, "did not finish", "--timeout")
    assert not any(work.iterdir())


def test_a_slow_cine_is_stopped_between_frames(checkpoint, work, inputs, monkeypatch):
    real = serve_segment.segment_frames
    frames_run = []

    def slow(*args, **kwargs):
        for frame in real(*args, **kwargs):
            time.sleep(0.4)
            frames_run.append(frame.index)
            yield frame

    monkeypatch.setattr(serve_segment, "segment_frames", slow)
    client = _client(checkpoint, work, timeout_s=1.0)
    _assert_error(_post(client, inputs["cine.dcm"]), 504, "1 s limit")
    assert 1 < len(frames_run) < 5  # stopped part-way through the 5 frames
    assert not any(work.iterdir())


# ------------------------------------------------------------------------- token and hosts

def test_token_is_checked_on_every_api_call(checkpoint, work, inputs):
    client = TestClient(create_app(ServeSettings(model=checkpoint, work_dir=work, token=TOKEN)))
    good = {"Authorization": f"Bearer {TOKEN}"}
    for headers in (None, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN}):
        _assert_error(client.get("/v1/model", headers=headers), 401, "Authorization: Bearer")
        response = _post(client, inputs["odd.png"], headers=headers)
        _assert_error(response, 401, "token")
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/model", headers=good).status_code == 200
    assert _post(client, inputs["odd.png"], headers=good).status_code == 200
    assert client.get("/healthz").json()["token_required"] is True  # health and page stay open
    assert "dskd serve" in client.get("/").text
    assert not any(work.iterdir())


def test_other_hosts_need_a_token(checkpoint):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")
    with pytest.raises(DskdError, match="--host 0.0.0.0 makes the model reachable.*--token"):
        ServeSettings(model=checkpoint, host="0.0.0.0").check()
    with pytest.raises(DskdError, match="--token is 5 characters; use at least 16"):
        ServeSettings(model=checkpoint, host="0.0.0.0", token="short").check()
    ServeSettings(model=checkpoint, host="0.0.0.0", token=TOKEN).check()
    with pytest.raises(DskdError, match="--queue -1 must be >= 0"):
        ServeSettings(model=checkpoint, queue=-1).check()


def test_cli_refuses_a_public_host_without_token_and_a_missing_model(checkpoint, tmp_path, capsys):
    assert main(["serve", "--checkpoint", str(checkpoint), "--host", "0.0.0.0"]) == 2
    assert "--host 0.0.0.0 makes the model reachable" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "none.pt: checkpoint not found" in capsys.readouterr().err


def test_the_page_and_the_openapi_schema(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/v1/segment?output=bundle" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # works offline: nothing fetched
    schema = client.get("/openapi.json").json()
    assert {"/v1/segment", "/v1/model", "/healthz"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/v1/segment"]["post"]["requestBody"]["content"]


def test_own_work_folder_is_removed_at_shutdown(checkpoint, inputs):
    app = create_app(ServeSettings(model=checkpoint))
    root = app.state.work_root
    with TestClient(app) as client:
        assert _post(client, inputs["odd.png"]).status_code == 200
        assert root.is_dir() and not any(root.iterdir())
    assert not root.exists()


def test_memory_stays_flat_over_a_long_cine_with_previews(checkpoint, tmp_path):
    """segment_upload keeps no frame: 90 more 128x128 frames (64 kB each as float32, 5.6 MB in
    all if kept) must not raise its peak by more than a frame or two."""
    import tracemalloc

    from dskd.deploy.models import load_net
    from dskd.deploy.serve.limits import Deadline
    from dskd.deploy.serve.upload import Upload

    net, threshold, gray = load_net(checkpoint)
    peaks = {}
    for n in (10, 100):
        path = write_dicom(tmp_path / f"cine{n}.dcm", _cine(n, 128), bits_stored=12)
        upload = Upload(path, path.name, path.stem, path.stat().st_size)
        info = serve_segment.probe_upload(upload, max_frames=500, max_side=4096)
        folder = tmp_path / f"request{n}"
        folder.mkdir()
        tracemalloc.start()
        result = serve_segment.segment_upload(net, upload, info, folder, threshold=threshold, gray=gray,
                                              window=512, probabilities=True, previews=True,
                                              deadline=Deadline(600))
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(result.previews) == len(result.figures) == n
        assert tifffile.imread(result.files["mask"]).shape == (n, 128, 128)
    assert peaks[100] - peaks[10] < 256 * 1024, peaks


def test_other_hosts_and_cross_origin_posts_are_refused(checkpoint, work, inputs):
    client = TestClient(create_app(ServeSettings(model=checkpoint, work_dir=work)))
    image = next(iter(inputs.values()))
    assert client.get("/healthz").status_code == 200
    rebound = client.get("/healthz", headers={"Host": "attacker.example"})
    assert rebound.status_code == 421 and "is not this server's address" in rebound.json()["error"]
    assert client.get("/healthz", headers={"Host": "localhost:8000"}).status_code == 200
    with open(image, "rb") as handle:
        data = handle.read()
    files = {"file": (image.name, data, "application/octet-stream")}
    cross = client.post("/v1/segment", files=files, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "cross-origin request" in cross.json()["error"]
    same = client.post("/v1/segment", files=files, headers={"Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200
    allowed = TestClient(create_app(ServeSettings(model=checkpoint, work_dir=work,
                                                  allowed_hosts=("proxy.example",))))
    assert allowed.get("/healthz", headers={"Host": "proxy.example"}).status_code == 200
