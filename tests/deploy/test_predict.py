"""`dskd predict` end to end: mixed folders with DICOM runs, odd sizes, a corrupt file; outputs,
summary CSV, failures and exit codes, the ONNX Runtime backend, videos and flat memory."""

import csv
import logging
import tracemalloc

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from dskd.checkpoint import load_model
from dskd.cli import main
from dskd.data.media import iter_frames, probe
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.export import export_onnx
from dskd.deploy.inputs import collect_inputs
from dskd.deploy.outputs import choose_outputs
from dskd.deploy.predict import SUMMARY_FIELDS, predict_files
from dskd.errors import DataError
from dskd.inference import predict_probabilities
from tests.data.dicom_files import write_dicom
from tests.model_files import torch_threads, write_random_checkpoint


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _angiogram(size, seed):
    return synth_angiogram(np.random.default_rng(seed), size)[0]


def _cine(n, size, seed=0):
    """(n, size, size) 12-bit frames of a synthetic angiogram drifting sideways."""
    image = _angiogram(size + n, seed)
    return np.stack([(image[:size, k:k + size] * 4095).astype(np.uint16) for k in range(n)])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", depth=2, width=4)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A folder as it might come from a cath lab: cines and images, odd sizes, one corrupt file."""
    root = tmp_path_factory.mktemp("batch") / "in"
    (root / "run1").mkdir(parents=True)
    Image.fromarray((_angiogram(80, 1)[:61, :70] * 255).astype(np.uint8)).save(root / "odd.png")
    write_dicom(root / "run1" / "cine.dcm", 4095 - _cine(6, 48), bits_stored=12, photometric="MONOCHROME1",
                frame_time_ms=100.0)
    write_dicom(root / "run1" / "1.2.840.99.2", (_angiogram(40, 2)[:37] * 255).astype(np.uint8))
    tifffile.imwrite(root / "stack.tif", _cine(3, 33, seed=3), photometric="minisblack")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("ignored: not an image")
    return root


@pytest.fixture(scope="module")
def predicted(checkpoint, batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred") / "out"
    report = predict_files(checkpoint, [batch], out, choose_outputs(probabilities=True, video="gif"))
    return report, out


def test_collect_inputs_recurses_and_names_outputs_by_relative_path(batch):
    found = dict((key.as_posix(), path.name) for path, key in collect_inputs([batch]))
    assert found == {"broken": "broken.png", "odd": "odd.png", "stack": "stack.tif",
                     "run1/cine": "cine.dcm", "run1/1.2.840.99.2": "1.2.840.99.2"}


def test_collect_inputs_globs_and_errors(batch, tmp_path):
    assert [p.name for p, _ in collect_inputs([str(batch / "**" / "*.dcm")])] == ["cine.dcm"]
    with pytest.raises(DataError, match=r"nothing\*.png: no files match"):
        collect_inputs([str(tmp_path / "nothing*.png")])
    with pytest.raises(DataError, match="gone.png: file not found"):
        collect_inputs([tmp_path / "gone.png"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "b" / "x.png")
    with pytest.raises(DataError, match="would both write x_"):
        collect_inputs([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"])


def test_outputs_keep_sizes_and_frame_counts(predicted, batch):
    report, out = predicted
    assert report.n_files == 4 and report.n_frames == 1 + 6 + 1 + 3
    odd = np.asarray(Image.open(out / "odd_mask.png"))
    assert odd.shape == (61, 70) and set(np.unique(odd)) <= {0, 255}
    assert np.asarray(Image.open(out / "odd_overlay.png")).shape == (61, 70, 3)
    assert np.asarray(Image.open(out / "odd_prob.png")).shape == (61, 70)
    assert np.asarray(Image.open(out / "run1" / "1.2.840.99.2_mask.png")).shape == (37, 40)
    assert tifffile.imread(out / "run1" / "cine_mask.tif").shape == (6, 48, 48)
    assert tifffile.imread(out / "run1" / "cine_prob.tif").shape == (6, 48, 48)
    assert tifffile.imread(out / "stack_mask.tif").shape == (3, 33, 33)
    gif = Image.open(out / "run1" / "cine_overlay.gif")
    assert gif.n_frames == 6 and gif.info["duration"] == 100  # the DICOM's 10 frames/s
    assert not list(out.rglob(".*.tmp"))


def test_cine_masks_equal_frame_by_frame_prediction(predicted, batch, checkpoint):
    _, out = predicted
    model, _, threshold = load_model(checkpoint)
    masks = tifffile.imread(out / "run1" / "cine_mask.tif")
    for mask, frame in zip(masks, iter_frames(probe(batch / "run1" / "cine.dcm")), strict=True):
        expected = predict_probabilities(model, frame, torch.device("cpu")) >= threshold
        np.testing.assert_array_equal(mask == 255, expected)
        assert 0.01 < expected.mean() < 0.99


def test_summary_csv_has_one_row_per_frame(predicted):
    _, out = predicted
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == SUMMARY_FIELDS
    assert len(rows) == 11 and not any("broken" in r["file"] for r in rows)
    cine = [r for r in rows if r["file"].endswith("cine.dcm")]
    assert [int(r["frame"]) for r in cine] == [1, 2, 3, 4, 5, 6]
    masks = tifffile.imread(out / "run1" / "cine_mask.tif")
    for row, mask in zip(cine, masks, strict=True):
        assert float(row["vessel_fraction"]) == pytest.approx((mask == 255).mean(), abs=1e-6)
        assert float(row["ms_per_frame"]) > 0


def test_corrupt_file_is_reported_and_skipped(predicted, batch):
    report, out = predicted
    failures = [(path.name, reason.split(" (")[0]) for path, reason in report.failures]
    assert failures == [("broken.png", "unreadable image")]
    assert (out / "failed.txt").read_text().startswith(f"{batch / 'broken.png'}\tunreadable image")


def test_cli_exits_1_after_processing_the_rest_and_logs_one_line(checkpoint, batch, tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="dskd"):
        code = main(["predict", "--checkpoint", str(checkpoint), str(batch), "--out", str(tmp_path / "o"),
                     "--no-overlays"])
    assert code == 1
    assert (tmp_path / "o" / "stack_mask.tif").exists() and not (tmp_path / "o" / "odd_overlay.png").exists()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"{batch / 'broken.png'}: unreadable image")
    assert main(["predict", "--checkpoint", str(checkpoint), str(batch / "odd.png"),
                 "--out", str(tmp_path / "ok")]) == 0


def test_a_cine_that_breaks_half_way_leaves_no_outputs(checkpoint, tmp_path):
    data = write_dicom(tmp_path / "full.dcm", _cine(8, 32)).read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.dcm").write_bytes(data[: len(data) - 32 * 32 * 2 * 3])
    report = predict_files(checkpoint, [tmp_path / "in"], tmp_path / "out",
                           choose_outputs(probabilities=True))
    assert len(report.failures) == 1 and "cannot decode frame" in report.failures[0][1]
    assert [p.name for p in (tmp_path / "out").iterdir()] == sorted(["summary.csv", "failed.txt"])


def test_onnxruntime_backend_matches_torch(checkpoint, batch, predicted, tmp_path):
    _, torch_out = predicted
    onnx_path = export_onnx(checkpoint, tmp_path / "model.onnx")
    report = predict_files(onnx_path, [batch / "run1", batch / "odd.png"], tmp_path / "out",
                           choose_outputs(probabilities=True), backend="onnxruntime")
    assert report.n_files == 3 and not report.failures
    # keys are relative to the folder named: run1's files land at the top of this run's output
    for name, torch_name in (("odd_prob.png", "odd_prob.png"),
                             ("1.2.840.99.2_prob.png", "run1/1.2.840.99.2_prob.png")):
        a = np.asarray(Image.open(tmp_path / "out" / name), dtype=int)
        b = np.asarray(Image.open(torch_out / torch_name), dtype=int)
        assert np.abs(a - b).max() <= 1  # 8-bit probabilities: rounding may differ by one step
    a = tifffile.imread(tmp_path / "out" / "cine_mask.tif")
    b = tifffile.imread(torch_out / "run1" / "cine_mask.tif")
    assert np.mean(a != b) < 1e-3


def test_backend_and_model_file_must_match(checkpoint, batch, tmp_path, capsys):
    assert main(["predict", "--checkpoint", str(checkpoint), "--backend", "onnxruntime", str(batch),
                 "--out", str(tmp_path / "o")]) == 2
    assert "needs an exported model; run `dskd export" in capsys.readouterr().err


def test_export_command(checkpoint, tmp_path, capsys):
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 1000
    assert "checked against PyTorch" in capsys.readouterr().out


def test_mp4_video(checkpoint, batch, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="MP4 needs the video extra")
    predict_files(checkpoint, [batch / "run1" / "cine.dcm"], tmp_path, choose_outputs(video="mp4"))
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "cine_overlay.mp4"))
    meta = next(reader)
    assert tuple(meta["size"]) == (48, 48) and meta["fps"] == pytest.approx(10)
    assert sum(1 for _ in reader) == 6


def test_memory_stays_flat_over_a_long_cine(checkpoint, tmp_path):
    """Peak Python/numpy memory for 140 frames is that for 20: nothing is kept per frame (one
    kept 32x32 mask, the smallest per-frame array, would add 120 kB)."""
    peaks = {}
    for n in (20, 140):
        path = write_dicom(tmp_path / f"c{n}.dcm", _cine(n, 32))
        tracemalloc.start()
        try:
            predict_files(checkpoint, [path], tmp_path / f"out{n}", choose_outputs(probabilities=True))
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[140] < peaks[20] + 60_000, peaks


def test_model_trained_on_green_channel_reads_green(tmp_path):
    from dskd.checkpoint import load_checkpoint, save_checkpoint
    from dskd.config import config_to_dict, load_config
    from dskd.deploy.models import load_net
    from dskd.models import build_model

    config = load_config(None, ["data.layout=drive"])
    path = tmp_path / "m.pt"
    save_checkpoint({"config": config_to_dict(config), "model": build_model(config.model).state_dict()},
                    path)
    assert load_checkpoint(path)["config"]["data"]["layout"] == "drive"
    assert load_net(path)[2] == "green"


# --- issue 12: large frames, concurrent runs, counting what was done ---------------------------

def _problem_lines(capsys, caplog) -> list[str]:
    """What a user sees as problems: `dskd: error:` lines and ERROR log records."""
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dskd: error")]
    return err + [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_frames_over_512_px_through_the_cli_with_both_backends(checkpoint, tmp_path):
    """A 600x520 image and a 1024x1024 three-frame cine, tiled by the default 512 window: the
    torch backend (default) no longer crashes, and ONNX Runtime agrees with it."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray((_angiogram(600, 7)[:520] * 255).astype(np.uint8)).save(inputs / "wide.png")
    write_dicom(inputs / "big.dcm", _cine(3, 1024, seed=8), bits_stored=12)
    assert main(["predict", "--checkpoint", str(checkpoint), str(inputs), "--out", str(tmp_path / "t"),
                 "--probabilities"]) == 0
    onnx_path = export_onnx(checkpoint, tmp_path / "m.onnx")
    assert main(["predict", "--checkpoint", str(onnx_path), "--backend", "onnxruntime", str(inputs),
                 "--out", str(tmp_path / "o"), "--probabilities"]) == 0
    a = np.asarray(Image.open(tmp_path / "t" / "wide_prob.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "o" / "wide_prob.png"), dtype=int)
    assert a.shape == (520, 600) and a.std() > 10 and np.abs(a - b).max() <= 1
    a = tifffile.imread(tmp_path / "t" / "big_prob.tif").astype(int)
    b = tifffile.imread(tmp_path / "o" / "big_prob.tif").astype(int)
    assert a.shape == (3, 1024, 1024) and a.std() > 10 and np.abs(a - b).max() <= 1
    masks = tifffile.imread(tmp_path / "t" / "big_mask.tif")
    assert 0.01 < (masks == 255).mean() < 0.99


_HOLDER = """
import sys
from dskd.folder_lock import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_into_a_folder_in_use_is_refused_and_touches_nothing(checkpoint, batch, tmp_path,
                                                                          capsys, caplog):
    import subprocess
    import sys

    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(batch), "--out", str(out)]) == 1
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        caplog.clear()
        assert main(["predict", "--checkpoint", str(checkpoint), str(batch / "odd.png"),
                     "--out", str(out)]) == 2
        assert _problem_lines(capsys, caplog) == [
            f"dskd: error: {out}: another dskd predict (pid {holder.pid}) is writing here; wait for "
            "it to finish or choose another --out"]
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".dskd.lock"} \
            == before  # summary.csv not truncated, failed.txt not deleted
    finally:
        holder.kill()  # killed, not released: its lock file stays, stale
        holder.wait()
    assert (out / ".dskd.lock").read_text().strip() == str(holder.pid)
    assert main(["predict", "--checkpoint", str(checkpoint), str(batch / "odd.png"),
                 "--out", str(out)]) == 0  # the dead holder's lock is taken over
    assert not (out / ".dskd.lock").exists() and not (out / "failed.txt").exists()


def test_temporary_names_are_unique_per_writer(tmp_path):
    from dskd.data.media import MediaInfo
    from dskd.deploy.outputs import SegmentedFrame, Source
    from dskd.deploy.outputs.images import MaskOutput

    info = MediaInfo(path=tmp_path / "x.tif", kind="tiff", n_frames=2, height=8, width=8, fps=None)
    first, second = MaskOutput(), MaskOutput()
    for output in (first, second):
        output.start(Source(info.path, info, tmp_path / "x", fps=15.0))
    assert len(set(first.parts.parts) | set(second.parts.parts)) == 2
    first.abort()  # one run's failure does not delete another's file in progress
    second.add(SegmentedFrame(1, np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32),
                              np.zeros((8, 8), bool), 0.0))
    second.finish()
    assert tifffile.imread(tmp_path / "x_mask.tif").shape == (8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["x_mask.tif"]


def test_a_cine_that_fails_part_way_counts_the_frames_it_did(checkpoint, tmp_path, capsys):
    data = write_dicom(tmp_path / "full.dcm", _cine(8, 32)).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 32 * 32 * 2 * 3])  # 5 whole frames
    assert main(["predict", "--checkpoint", str(checkpoint), str(tmp_path / "cut.dcm"),
                 "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().out.startswith("5 frames predicted")
    with open(tmp_path / "out" / "summary.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 5


def test_precision_auto_takes_bf16_where_the_cpu_has_units(checkpoint, monkeypatch, caplog):
    import logging

    import dskd.inference.precision
    from dskd.deploy.models import load_net

    monkeypatch.setattr(dskd.inference.precision, "cpu_bf16_units", lambda: "AMX")
    with caplog.at_level(logging.INFO, logger="dskd.deploy.models"):
        net, _, _ = load_net(checkpoint)
    assert net.autocast_dtype == torch.bfloat16 and "bfloat16 autocast (auto: CPU with AMX" in caplog.text
    kinds = {type(module).__name__ for module in net.model.modules()}
    assert "ConvReLU" in kinds and not kinds & {"BatchNorm2d", "ReLU"}  # folded and fused in bf16
    monkeypatch.setattr(dskd.inference.precision, "cpu_bf16_units", lambda: None)
    net = load_net(checkpoint)[0]
    assert net.autocast_dtype is None
    kinds = {type(module).__name__ for module in net.model.modules()}
    assert "BatchNorm2d" in kinds and "ConvReLU" not in kinds  # float32 runs as trained
    assert load_net(checkpoint, amp=False)[0].autocast_dtype is None
