"""The page of `dskd serve` in a real browser: headless Chromium (the Debian packages chromium and
chromium-driver, driven through selenium) against a uvicorn server started here on 127.0.0.1.

It uploads a synthetic angiogram and a small DICOM cine, waits for the overlay, downloads the
mask (and the cine's probability map) as a user would, and checks them against `dskd predict` on
the same files pixel for pixel. Screenshots are saved under the test's temporary folder; with
DSKD_SERVE_SCREENSHOT=PATH the angiogram's is also copied there (docs/serve-screenshot.png was
made so, with DSKD_SERVE_CHECKPOINT naming a trained model instead of random weights).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from dskd.data.synthetic import synth_angiogram
from dskd.deploy.outputs import choose_outputs
from dskd.deploy.predict import predict_files
from dskd.deploy.serve import ServeSettings
from tests.data.dicom_files import write_dicom
from tests.model_files import torch_threads, write_random_checkpoint

INSTALL = ("the browser test needs Chromium and its driver: apt-get install chromium chromium-driver "
           "(Debian/Ubuntu), and pip install -e '.[test]'")
CHROMIUM = os.environ.get("DSKD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("DSKD_CHROMEDRIVER") or shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(f"{INSTALL} (not found: {'chromium' if CHROMIUM is None else 'chromedriver'})",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason=INSTALL)
uvicorn = pytest.importorskip("uvicorn", reason=INSTALL)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from dskd.deploy.serve.app import create_app  # noqa: E402

WAIT_S = 60


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    trained = os.environ.get("DSKD_SERVE_CHECKPOINT")
    if trained:
        return Path(trained)
    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", depth=2, width=4)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("uploads")
    image, _ = synth_angiogram(np.random.default_rng(3), 256)
    Image.fromarray((image * 255).astype(np.uint8)).save(root / "angiogram.png")
    wide, _ = synth_angiogram(np.random.default_rng(8), 64 + 6)
    frames = np.stack([(wide[:64, k:k + 64] * 4095).astype(np.uint16) for k in range(6)])
    write_dicom(root / "run.dcm", frames, bits_stored=12, frame_time_ms=100.0)
    return {"png": root / "angiogram.png", "cine": root / "run.dcm"}


@pytest.fixture(scope="module")
def predicted(checkpoint, files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("predicted")
    report = predict_files(checkpoint, list(files.values()), out,
                           choose_outputs(probabilities=True, overlays=False))
    assert not report.failures
    return out


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    """uvicorn on 127.0.0.1, on a port the system picks, in a thread of this process."""
    work = tmp_path_factory.mktemp("work")
    app = create_app(ServeSettings(model=checkpoint, work_dir=work))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    port = instance.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", work
    instance.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    profile = tempfile.mkdtemp(prefix="dskd-chromium-")  # a new, empty profile
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads)})
        yield driver, downloads
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, what: str):
    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: condition(d))
    except Exception:
        status = driver.find_element(By.ID, "status").text
        raise AssertionError(f"timed out waiting for {what}; the page says: {status}") from None


def _upload(driver, path: Path) -> None:
    driver.find_element(By.ID, "file").send_keys(str(path))
    _wait(driver, lambda d: d.execute_script(
        "return document.body.dataset.state === 'done' && document.body.dataset.file === arguments[0]"
        " || document.body.dataset.state === 'error'", path.name), f"the overlay of {path.name}")
    body = driver.find_element(By.TAG_NAME, "body")
    assert body.get_attribute("data-state") == "done", driver.find_element(By.ID, "status").text


def _download(driver, downloads: Path, link_id: str) -> Path:
    link = driver.find_element(By.ID, link_id)
    name = link.get_attribute("download")
    target = downloads / name
    target.unlink(missing_ok=True)
    link.click()
    _wait(driver, lambda d: target.is_file() and not (downloads / f"{name}.crdownload").exists()
          and target.stat().st_size > 0, f"the download of {name}")
    time.sleep(0.2)  # the browser renames the finished file; let it close
    return target


def _red_pixels(driver) -> int:
    """Canvas pixels where the red overlay shows (red well above green)."""
    return driver.execute_script("""
        const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i] > d[i + 1] + 60) n++; } return n;""")


def test_page_segments_an_angiogram_and_a_cine_like_dskd_predict(server, browser, files, predicted,
                                                                 tmp_path):
    url, work = server
    driver, downloads = browser
    driver.get(url + "/")
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-card") == "loaded",
          "the model card")
    assert "threshold" in driver.find_element(By.ID, "card").text

    _upload(driver, files["png"])
    view = driver.find_element(By.ID, "view")
    assert (view.get_attribute("width"), view.get_attribute("height")) == ("256", "256")
    mask = np.asarray(Image.open(predicted / "angiogram_mask.png"))
    assert _red_pixels(driver) > 0.5 * (mask > 0).sum()  # the overlay is drawn over the vessels
    driver.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "serve-angiogram.png"
    assert driver.save_screenshot(str(shot))
    if os.environ.get("DSKD_SERVE_SCREENSHOT"):
        shutil.copy(shot, os.environ["DSKD_SERVE_SCREENSHOT"])
    driver.find_element(By.ID, "mask-only").click()
    assert _red_pixels(driver) == 0  # mask only: white on black
    driver.find_element(By.ID, "mask-only").click()
    assert "vessel area" in driver.find_element(By.ID, "figures").text
    downloaded = np.asarray(Image.open(_download(driver, downloads, "download-mask")))
    np.testing.assert_array_equal(downloaded, mask)

    _upload(driver, files["cine"])
    assert driver.find_element(By.ID, "cine-controls").is_displayed()
    assert driver.find_element(By.ID, "frame").get_attribute("max") == "6"
    assert "10.0 frames/s (from the file)" in driver.find_element(By.ID, "figures").text
    driver.execute_script("const s = document.getElementById('frame'); s.value = '4';"
                          "s.dispatchEvent(new Event('input'));")
    assert view.get_attribute("data-frame") == "4"
    driver.find_element(By.ID, "play").click()
    _wait(driver, lambda d: view.get_attribute("data-frame") != "4", "the cine to play")
    driver.find_element(By.ID, "play").click()
    pages = tifffile.imread(_download(driver, downloads, "download-mask"))
    np.testing.assert_array_equal(pages, tifffile.imread(predicted / "run_mask.tif"))
    probabilities = tifffile.imread(_download(driver, downloads, "download-prob"))
    np.testing.assert_array_equal(probabilities, tifffile.imread(predicted / "run_prob.tif"))
    assert driver.save_screenshot(str(tmp_path / "serve-cine.png"))
    assert not any(work.iterdir())  # every request folder removed


def test_page_shows_a_bad_file_as_one_line_and_goes_on(server, browser, files, tmp_path):
    url, _ = server
    driver, _ = browser
    driver.get(url + "/")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    driver.find_element(By.ID, "file").send_keys(str(bad))
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "error",
          "the error")
    assert "broken.png: unreadable image" in driver.find_element(By.ID, "status").text
    _upload(driver, files["png"])


def test_a_failed_upload_clears_the_old_result_and_the_same_file_can_be_chosen_again(
        server, browser, files, tmp_path):
    url, _ = server
    driver, _ = browser
    driver.set_window_size(420, 800)  # a phone-sized window: one column, a canvas of real size
    try:
        driver.get(url + "/")
        _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-card") == "loaded",
              "the model card")
        _upload(driver, files["png"])
        assert driver.find_element(By.ID, "view").size["width"] > 300
        assert driver.find_element(By.ID, "downloads").is_displayed()
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
        for _ in range(2):  # the same file twice: each choice is an upload
            driver.find_element(By.ID, "file").send_keys(str(broken))
            _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                  == "error", "the refusal")
            status = driver.find_element(By.ID, "status").text
            assert status.count("broken.png") == 1, status  # the file named once
            assert not driver.find_element(By.ID, "downloads").is_displayed()  # no stale result
            driver.execute_script("document.body.dataset.state = 'idle'")
    finally:
        driver.set_window_size(1280, 900)


def test_the_page_shows_the_qca_of_a_cine_as_predict_reads_it(server, browser, files, checkpoint, tmp_path):
    """The QCA panel: the frame read, the calibration and the lesions equal `dskd predict --qca`'s."""
    import json

    from dskd.deploy.qca_writer import QCASettings
    from dskd.qca import from_user

    url, _ = server
    driver, _ = browser
    predict_files(checkpoint, [files["cine"]], tmp_path,
                  choose_outputs(overlays=False, qca=QCASettings(calibration=from_user(0.25))))
    expected = json.loads((tmp_path / "run_qca.json").read_text())
    driver.get(url + "/")
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-card") == "loaded",
          "the model card")
    driver.find_element(By.ID, "qca").click()
    driver.find_element(By.ID, "mmpx").send_keys("0.25")
    _upload(driver, files["cine"])
    assert driver.find_element(By.ID, "qca-panel").is_displayed()
    text = driver.find_element(By.ID, "qca-calibration").text
    assert "user: 0.25 mm/px" in text and "Figures in mm" in text
    shown = driver.execute_script("return result.qca")
    assert shown["frame"] == expected["frame"] and shown["lesions"] == expected["lesions"]
    assert shown.get("stability") == expected.get("stability")  # the lesions over the nearby frames
    assert driver.find_element(By.ID, "view").get_attribute("data-frame") == str(expected["frame"])
    assert expected["lesions"], "the fixture cine has a stenosis: a lesion must be read"
    rows = driver.find_elements(By.CSS_SELECTOR, "#qca-lesions tbody tr")
    assert len(rows) == len(expected["lesions"])
    nearby = rows[0].find_elements(By.TAG_NAME, "td")[-1].text
    [first] = [s for s in expected["stability"] if s["lesion"] == 0]
    assert nearby.endswith(f"on {first['found_in']}/{first['frames']} frames")
    rows[0].click()
    assert driver.find_element(By.ID, "qca-profile").get_attribute("data-lesion") == "0"
