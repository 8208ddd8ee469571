"""dskd export --int8: a calibrated int8 ONNX model, checked against float32, written atomically."""

import numpy as np
import onnx
import pytest

from dskd.cli import main
from dskd.data.io import write_png
from dskd.data.synthetic import synth_angiogram
from dskd.deploy import quantize
from dskd.deploy.export import export_onnx
from dskd.errors import DataError
from dskd.inference import frame_probabilities
from dskd.inference.backends import OnnxNet
from tests.model_files import torch_threads, write_random_checkpoint


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A checkpoint, its float32 export and its int8 export calibrated on synthetic frames."""
    folder = tmp_path_factory.mktemp("int8")
    checkpoint = write_random_checkpoint(folder / "model.pt", depth=2, width=8, seed=4)
    float32 = export_onnx(checkpoint, folder / "float32.onnx")
    int8 = export_onnx(checkpoint, folder / "int8.onnx", int8=True, calibration_frames=3)
    return checkpoint, float32, int8


def test_the_int8_model_is_quantised_and_says_so(models):
    _, _, int8 = models
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = OnnxNet(int8).metadata
    assert meta["quantization"]["calibration_frames"] == 3 and meta["size_multiple"] == 4
    assert meta["quantization"]["min_mask_dice"] >= quantize.MIN_MASK_DICE


def test_int8_probabilities_stay_close_to_float32_on_a_new_frame(models):
    _, float32, int8 = models
    frame = synth_angiogram(np.random.default_rng(99), 96)[0]
    a, b = frame_probabilities(OnnxNet(float32), frame), frame_probabilities(OnnxNet(int8), frame)
    assert a.shape == b.shape == frame.shape
    assert 0 < np.abs(a - b).max() < 0.3  # an untrained net's maps crowd the threshold
    assert quantize.mask_dice(a >= 0.5, b >= 0.5) > 0.97


def test_calibration_reads_the_users_frames_and_skips_bad_files(tmp_path, caplog):
    for k in range(2):
        write_png(tmp_path / f"frame{k}.png", (synth_angiogram(np.random.default_rng(k), 48)[0]
                                               * 255).astype(np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    frames = quantize.calibration_frames([tmp_path], count=4)
    assert len(frames) == 2 and frames[0].shape == (48, 48)
    assert "broken.png" in caplog.text
    only_broken = tmp_path / "bad"
    only_broken.mkdir()
    (only_broken / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="no readable frame"):
        quantize.calibration_frames([only_broken], count=4)


def test_a_failed_int8_check_keeps_the_previous_model(models, tmp_path, monkeypatch, capsys):
    checkpoint, _, _ = models
    previous = tmp_path / "model.onnx"
    previous.write_bytes(b"a previous good model")
    monkeypatch.setattr(quantize, "MIN_MASK_DICE", 1.01)  # any int8 model fails
    assert main(["export", str(checkpoint), "--out", str(previous), "--int8",
                 "--calibration-frames", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not written: the int8 model's mask agrees" in err[0]
    assert previous.read_bytes() == b"a previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_calibration_without_int8_is_refused(models, tmp_path, capsys):
    checkpoint, _, _ = models
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "m.onnx"),
                 "--calibration", str(tmp_path)]) == 2
    assert "add --int8" in capsys.readouterr().err
