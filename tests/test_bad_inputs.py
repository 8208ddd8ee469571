"""Bad inputs end to end through the CLI, against the contract of docs/errors.md.

Every input kind the readers accept (KINDS) is crossed with the ways a file can be broken
(BREAKAGES); bad checkpoints and exported models, bad options and output locations that cannot be
written follow. Each case asserts three things:
- one problem line (an ERROR record `<file>: <reason> (skipped)` for a broken input, a
  `dskd: error: ...` line for a problem with the whole run), naming the file and what is wrong;
- the exit code: 1 when files were skipped, 2 when the run could not go on;
- that nothing already written was lost: the outputs of a good file before the broken one, a
  file an earlier run left in the output folder, and no temporary file or lock left behind.

To add a case: a new input kind is an entry of KINDS (suffix, reader family, writer of a small
valid file); a new way to break files is an entry of BREAKAGES (a function writing the broken
file, given the kind, and the expected reason per family or per kind: kinds it has no reason
for are not crossed with it).
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import tifffile
import torch
from PIL import Image

from dskd.cli import main
from dskd.config import config_to_dict, load_config
from dskd.models import build_model
from tests.data.dicom_files import write_dicom
from tests.model_files import torch_threads, write_random_checkpoint

HEIGHT, WIDTH = 40, 44
_PIXELS = (np.random.default_rng(0).random((HEIGHT, WIDTH)) * 255).astype(np.uint8)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", depth=2, width=4)


# ------------------------------------------------------------------------------ input kinds

def _pillow(fmt: str, mode: str = "L") -> Callable[[Path], None]:
    return lambda path: Image.fromarray(_PIXELS).convert(mode).save(path, format=fmt)


@dataclass(frozen=True)
class Kind:
    suffix: str
    family: str  # "image" (Pillow), "tiff" (tifffile) or "dicom" (pydicom): the reader it goes to
    write: Callable[[Path], object]


KINDS: dict[str, Kind] = {
    "png": Kind(".png", "image", _pillow("PNG")),
    "png16": Kind(".png", "image", lambda p: Image.fromarray(_PIXELS.astype(np.uint16) * 257).save(p)),
    "png_rgb": Kind(".png", "image", _pillow("PNG", "RGB")),
    "jpeg": Kind(".jpg", "image", _pillow("JPEG")),
    "bmp": Kind(".bmp", "image", _pillow("BMP")),
    "gif": Kind(".gif", "image", _pillow("GIF")),
    "pgm": Kind(".pgm", "image", _pillow("PPM")),
    "ppm": Kind(".ppm", "image", _pillow("PPM", "RGB")),
    "tiff": Kind(".tif", "tiff", lambda p: tifffile.imwrite(p, _PIXELS)),
    "tiff16": Kind(".tif", "tiff", lambda p: tifffile.imwrite(p, _PIXELS.astype(np.uint16) * 257)),
    "tiff_float": Kind(".tif", "tiff", lambda p: tifffile.imwrite(p, _PIXELS.astype(np.float32) / 255)),
    "tiff_cine": Kind(".tif", "tiff", lambda p: tifffile.imwrite(p, np.stack([_PIXELS] * 3),
                                                                   photometric="minisblack")),
    "dicom": Kind(".dcm", "dicom", lambda p: write_dicom(p, _PIXELS)),
    "dicom_cine": Kind(".dcm", "dicom", lambda p: write_dicom(
        p, np.stack([_PIXELS.astype(np.uint16) * 16] * 4), bits_stored=12, photometric="MONOCHROME1")),
    "dicom_no_suffix": Kind("", "dicom", lambda p: write_dicom(p, _PIXELS)),
}


# -------------------------------------------------------------------------- ways to break them

def _rewrite(change: Callable[[bytes], bytes]) -> Callable[[Kind, Path], None]:
    def breakage(kind: Kind, path: Path) -> None:
        kind.write(path)
        path.write_bytes(change(path.read_bytes()))
    return breakage


def _float_tiff_with(value: float, frames: int = 1) -> Callable[[Kind, Path], None]:
    def breakage(kind: Kind, path: Path) -> None:
        stack = np.stack([_PIXELS.astype(np.float32) / 255] * frames)
        stack[-1, 3, 4] = value
        tifffile.imwrite(path, stack[0] if frames == 1 else stack, photometric="minisblack")
    return breakage


def _pages_of_two_sizes(kind: Kind, path: Path) -> None:
    with tifffile.TiffWriter(path) as tif:
        tif.write(_PIXELS, metadata=None)
        tif.write(_PIXELS[:30], metadata=None)


def _edited_dicom(**changes) -> Callable[[Kind, Path], None]:
    def breakage(kind: Kind, path: Path) -> None:
        kind.write(path)
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)
    return breakage


_UNREADABLE = {"image": "unreadable image", "tiff": "unreadable TIFF",
               "dicom": "not a readable DICOM file",
               # without a suffix only the DICM mark makes a file a DICOM, and it is gone
               "dicom_no_suffix": "unknown file type ''"}


_NON_FINITE = r"1 of 1760 pixels are NaN or infinite; fix the image"


@dataclass(frozen=True)
class Breakage:
    write: Callable[[Kind, Path], None]
    reasons: dict[str, str]  # family or kind name -> regex the reason must start with

    def reason(self, name: str) -> str | None:
        return self.reasons.get(name, self.reasons.get(KINDS[name].family))


BREAKAGES: dict[str, Breakage] = {
    "empty": Breakage(_rewrite(lambda data: b""), _UNREADABLE),
    "garbage": Breakage(_rewrite(lambda data: bytes(range(256)) * 2), _UNREADABLE),
    "cut_in_half": Breakage(_rewrite(lambda data: data[: len(data) // 2]), {
        "image": r"unreadable image \(image file is truncated",
        "tiff": r"cannot decode pixel data", "tiff_cine": r"damaged TIFF \(invalid page offset",
        "dicom": r"cannot decode pixel data", "dicom_cine": r"cannot decode frame 2 of 4"}),
    "nan_pixel": Breakage(_float_tiff_with(np.nan), {"tiff_float": _NON_FINITE}),
    "infinite_pixel": Breakage(_float_tiff_with(np.inf), {"tiff_float": _NON_FINITE}),
    "nan_in_last_frame": Breakage(_float_tiff_with(np.nan, frames=3), {
        "tiff_cine": r"frame 3 of 3: 1 of 1760 pixels are NaN or infinite"}),
    "pages_of_two_sizes": Breakage(_pages_of_two_sizes, {
        "tiff_cine": r"frame 2 is 30x44, the first is 40x44; frames of a run must share a size"}),
    "more_frames_announced": Breakage(_edited_dicom(NumberOfFrames=6), {
        "dicom_cine": r"cannot decode frame 5 of 6"}),
    "no_pixel_data": Breakage(_edited_dicom(PixelData=None), {
        "dicom": r"cannot decode (pixel data|frame 1 of 4) \(.*no 'Pixel Data'"}),
    # pydicom raises NotImplementedError on an unknown value representation (found by mutation)
    "unknown_vr_rows": Breakage(_rewrite(lambda data: data.replace(
        b"\x28\x00\x10\x00US", b"\x28\x00\x10\x00ZZ", 1)), {
        "dicom": r"(unreadable DICOM header|not a readable DICOM file)"}),
    "unknown_vr_frames": Breakage(_rewrite(lambda data: data.replace(
        b"\x28\x00\x08\x00IS", b"\x28\x00\x08\x00ZZ", 1)), {
        "dicom_cine": r"(unreadable DICOM header|not a readable DICOM file)"}),
    "infinite_rescale_slope": Breakage(_edited_dicom(RescaleSlope="1e999", RescaleIntercept=0), {
        "dicom": r"(frame 1 of 4: )?pixel values are NaN or infinite after the modality and VOI transforms"}),
}

CASES = [(kind, breakage) for breakage, spec in BREAKAGES.items() for kind in KINDS
         if spec.reason(kind) is not None]


# ------------------------------------------------------------------------------------ helpers

def _problem_lines(capsys, caplog) -> list[str]:
    """`dskd: error:` lines on stderr and ERROR log records: what a user sees as problems."""
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dskd: error")]
    return errors + [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _earlier_run(out: Path) -> dict[Path, bytes]:
    """A file an earlier run left in the output folder; returns the folder's files and bytes."""
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_PIXELS).save(out / "earlier_mask.png")
    return _files(out)


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_nothing_left_behind(out: Path) -> None:
    assert not [p.name for p in out.rglob(".*")], "temporary files or a lock left behind"


def _good(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_PIXELS).save(folder / name)
    return folder / name


# ------------------------------------------------------------------------- broken input files

@pytest.mark.parametrize("kind, breakage", CASES, ids=[f"{k}-{b}" for k, b in CASES])
def test_a_broken_input_is_skipped_with_one_line(kind, breakage, checkpoint, tmp_path, capsys, caplog):
    inputs, out = tmp_path / "in", tmp_path / "out"
    first, last = _good(inputs, "a_good.png"), _good(inputs, "c_good.png")
    broken = inputs / f"b_broken{KINDS[kind].suffix}"
    BREAKAGES[breakage].write(KINDS[kind], broken)
    earlier = _earlier_run(out)
    with caplog.at_level(logging.ERROR, logger="dskd"):
        code = main(["predict", "--checkpoint", str(checkpoint), str(first), str(broken), str(last),
                     "--out", str(out)])
    assert code == 1
    lines = _problem_lines(capsys, caplog)
    expected = re.escape(f"{broken}: ") + BREAKAGES[breakage].reason(kind) + r".* \(skipped\)"
    assert len(lines) == 1 and re.fullmatch(expected, lines[0]), lines
    assert (out / "failed.txt").read_text().splitlines()[0].startswith(f"{broken}\t")
    assert len((out / "failed.txt").read_text().splitlines()) == 1
    for good in ("a_good", "c_good"):  # before and after the broken one
        assert np.asarray(Image.open(out / f"{good}_mask.png")).shape == (HEIGHT, WIDTH)
    assert not list(out.glob("b_broken*"))
    assert {p: b for p, b in _files(out).items() if p in earlier} == earlier
    _assert_nothing_left_behind(out)


def test_every_kind_is_read_when_intact(checkpoint, tmp_path):
    """The other half of each case above: the unbroken file of every kind goes through."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    paths = []
    for name, kind in KINDS.items():
        kind.write(inputs / f"{name}{kind.suffix}")
        paths.append(str(inputs / f"{name}{kind.suffix}"))
    assert main(["predict", "--checkpoint", str(checkpoint), *paths, "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*_mask.*"))) == len(KINDS)


# ------------------------------------------------------------------ checkpoints and models

def _config_dict(**model) -> dict:
    return config_to_dict(load_config(None, [f"model.{k}={v}" for k, v in model.items()]))


def _saved(path: Path, payload: dict) -> Path:
    torch.save(payload, path)
    return path


def _other_architecture(path: Path, good: Path) -> Path:
    return _saved(path, {"format": 1, "config": _config_dict(depth=2, width=4),
                         "model": build_model(load_config(None, ["model.depth=3", "model.width=8"]).model)
                         .state_dict()})


def _nan_weights(path: Path, good: Path) -> Path:
    payload = torch.load(good, weights_only=True)
    next(iter(payload["model"].values())).view(-1)[0] = float("nan")
    return _saved(path, payload)


def _with_threshold(value: float) -> Callable[[Path, Path], Path]:
    return lambda path, good: _saved(path, {**torch.load(good, weights_only=True), "threshold": value})


BAD_MODELS: dict[str, tuple[str, Callable[[Path, Path], Path], str]] = {
    # name: (file name, writer(path, good checkpoint), expected reason after "<file>: ")
    "missing": ("gone.pt", lambda path, good: path, "checkpoint not found"),
    "garbage": ("junk.pt", lambda path, good: (path.write_bytes(b"junk" * 100), path)[1],
                r"not a readable dskd checkpoint \("),
    "cut_in_half": ("cut.pt", lambda path, good: (path.write_bytes(good.read_bytes()[:2000]), path)[1],
                    r"not a readable dskd checkpoint \("),
    "unsafe_pickle": ("evil.pt", lambda path, good: _saved(path, {"format": 1, "run": os.system}),
                      r"refused: it holds the Python object posix\.system, which could run code when "
                      r"loaded; dskd reads only tensors and plain values"),
    "not_a_dict": ("list.pt", lambda path, good: _saved(path, [1, 2]), "not a dskd checkpoint of format 1"),
    "no_config": ("noconfig.pt", lambda path, good: _saved(path, {"format": 1, "model": {}}),
                  r"no stored config; not a checkpoint written by `dskd train`"),
    "other_architecture": ("other.pt", _other_architecture,
                           r"weights are of another architecture than the stored config: \d+ unexpected "
                           r"\(.*\); \d+ of another shape \(file vs config\) \(encoders\.0\.0\.weight "
                           r"\(8, 1, 3, 3\) vs \(4, 1, 3, 3\), .*\)"),
    "nan_weights": ("nan.pt", _nan_weights, r"1 weight tensors hold NaN or infinity \("),
    "threshold_7": ("t7.pt", _with_threshold(7.0), r"stored threshold 7\.0 is not in \(0, 1\)"),
    "threshold_nan": ("tnan.pt", _with_threshold(float("nan")), r"stored threshold nan is not in \(0, 1\)"),
}


def _assert_refused(argv: list[str], out: Path, expected: str, capsys, caplog) -> None:
    """The run stops before any work: exit 2, one `dskd: error:` line, the folder untouched."""
    earlier = _earlier_run(out)
    capsys.readouterr()
    caplog.clear()
    code = main(argv)
    lines = _problem_lines(capsys, caplog)
    assert code == 2 and len(lines) == 1 and re.fullmatch("dskd: error: " + expected, lines[0]), (code, lines)
    assert "weights_only=False" not in lines[0]
    assert _files(out) == earlier
    _assert_nothing_left_behind(out)


@pytest.mark.parametrize("name", BAD_MODELS)
def test_a_bad_checkpoint_is_one_line(name, checkpoint, tmp_path, capsys, caplog):
    file_name, write, reason = BAD_MODELS[name]
    path = write(tmp_path / file_name, checkpoint)
    _assert_refused(["predict", "--checkpoint", str(path), str(_good(tmp_path / "in", "a.png")),
                     "--out", str(tmp_path / "out")], tmp_path / "out",
                    re.escape(f"{path}: ") + reason + ".*", capsys, caplog)


def test_a_stored_threshold_out_of_range_gives_way_to_the_users(checkpoint, tmp_path):
    path = _with_threshold(7.0)(tmp_path / "t7.pt", checkpoint)
    assert main(["predict", "--checkpoint", str(path), "--threshold", "0.5",
                 str(_good(tmp_path / "in", "a.png")), "--out", str(tmp_path / "out")]) == 0


def test_a_bad_onnx_model_is_one_line(tmp_path, capsys, caplog):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    _assert_refused(["predict", "--checkpoint", str(junk), "--backend", "onnxruntime",
                     str(_good(tmp_path / "in", "a.png")), "--out", str(tmp_path / "out")],
                    tmp_path / "out", re.escape(f"{junk}: not a loadable ONNX model") + ".*", capsys, caplog)


@pytest.mark.parametrize("option, expected", [
    (["--device", "banana"], r"--device 'banana' is not a device; use cpu, cuda or cuda:N"),
    (["--threshold", "7"], r"--threshold 7\.0 must be in \(0, 1\)"),
    (["--threshold", "nan"], r"--threshold nan must be in \(0, 1\)"),
    (["--window", "2"], r"window 2 is smaller than the network's size multiple 4.*"),
])
def test_a_bad_option_is_one_line(option, expected, checkpoint, tmp_path, capsys, caplog):
    _assert_refused(["predict", "--checkpoint", str(checkpoint), *option,
                     str(_good(tmp_path / "in", "a.png")), "--out", str(tmp_path / "out")],
                    tmp_path / "out", expected, capsys, caplog)


def test_device_banana_for_evaluate_and_threshold_sweep(checkpoint, tmp_path, capsys, caplog):
    for argv in (["evaluate", "--checkpoint", str(checkpoint), "--data", str(tmp_path)],
                 ["threshold-sweep", "--checkpoint", str(checkpoint)]):
        _assert_refused([*argv, "--device", "banana", "--out", str(tmp_path / "out")], tmp_path / "out",
                        r"--device 'banana' is not a device; use cpu, cuda or cuda:N", capsys, caplog)


# --------------------------------------------------------------------------- output locations

@pytest.fixture()
def read_only_folder(tmp_path) -> Path:
    """A folder this process may not write to: chmod 555 for a normal user; root writes anyway,
    so for root a sysfs folder (which refuses new files to root too), else skip."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    folder = Path("/sys/kernel")
    try:
        os.close(os.open(folder / "dskd-probe", os.O_CREAT | os.O_WRONLY))
    except OSError:
        yield folder
        return
    pytest.skip("no folder here refuses writes to root")


def test_predict_into_a_file_or_under_one_is_one_line(checkpoint, tmp_path, capsys, caplog):
    image = str(_good(tmp_path / "in", "a.png"))
    blocker = tmp_path / "out" / "blocker.txt"
    _earlier_run(tmp_path / "out")
    blocker.write_text("a file the user keeps")
    _assert_refused(["predict", "--checkpoint", str(checkpoint), image, "--out", str(blocker)],
                    tmp_path / "out", re.escape(f"--out {blocker}: is a file, not a folder; choose a folder"),
                    capsys, caplog)
    under = blocker / "sub"
    _assert_refused(["predict", "--checkpoint", str(checkpoint), image, "--out", str(under)],
                    tmp_path / "out", re.escape(f"--out {under}: cannot create it (Not a directory)") + ".*",
                    capsys, caplog)


def test_predict_into_a_read_only_folder_is_one_line(checkpoint, read_only_folder, tmp_path, capsys):
    before = sorted(read_only_folder.iterdir())
    code = main(["predict", "--checkpoint", str(checkpoint), str(_good(tmp_path / "in", "a.png")),
                 "--out", str(read_only_folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert re.fullmatch(re.escape(f"dskd: error: {read_only_folder}: cannot write (") + r"(Permission denied|"
                        r"Operation not permitted|Read-only file system)\); .*", err[0]), err
    assert sorted(read_only_folder.iterdir()) == before


def test_export_to_a_folder_or_read_only_place_is_one_line(checkpoint, read_only_folder, tmp_path,
                                                           capsys, caplog):
    out = tmp_path / "out"
    _assert_refused(["export", str(checkpoint), "--out", str(out)], out,
                    re.escape(f"--out {out}: is a folder; name the file to write, e.g. {out / 'model.onnx'}"),
                    capsys, caplog)
    _assert_refused(["export", str(checkpoint), "--out", str(out / "earlier_mask.png" / "m.onnx")], out,
                    re.escape(f"the folder of --out {out / 'earlier_mask.png'}: is a file, not a folder; "
                              "choose a folder"),
                    capsys, caplog)
    code = main(["export", str(checkpoint), "--out", str(read_only_folder / "model.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(
        f"dskd: error: {read_only_folder / 'model.onnx'}: cannot write (")


def _full_disk_after(n_writes: int, real: Callable) -> Callable:
    """A Pillow save that works n_writes times, then writes half a file and fails as a full disk."""
    calls = []

    def save(image, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) <= n_writes:
            return real(image, fp, *args, **kwargs)
        Path(fp).write_bytes(b"\x89PNG half a file")
        raise OSError(errno.ENOSPC, "No space left on device")
    return save


def test_a_full_disk_stops_predict_with_one_line_and_keeps_what_was_done(checkpoint, tmp_path, capsys,
                                                                         caplog, monkeypatch):
    inputs, out = tmp_path / "in", tmp_path / "out"
    first, second = _good(inputs, "a.png"), _good(inputs, "b.png")
    earlier = _earlier_run(out)
    monkeypatch.setattr(Image.Image, "save", _full_disk_after(3, Image.Image.save))  # a: mask, prob, overlay
    code = main(["predict", "--checkpoint", str(checkpoint), str(first), str(second), "--out", str(out),
                 "--probabilities"])
    lines = _problem_lines(capsys, caplog)
    assert code == 2 and len(lines) == 1
    assert re.fullmatch(re.escape(f"dskd: error: {out / 'b_mask.png'}: cannot write (No space left on "
                                  "device); free some space or choose another location"), lines[0]), lines
    assert {p.name for p in out.iterdir()} == {"earlier_mask.png", "summary.csv", "a_mask.png",
                                               "a_prob.png", "a_overlay.png"}
    assert np.asarray(Image.open(out / "a_mask.png")).shape == (HEIGHT, WIDTH)
    assert {p: b for p, b in _files(out).items() if p in earlier} == earlier


def test_a_full_disk_during_a_cine_leaves_no_partial_files(checkpoint, tmp_path, capsys, caplog, monkeypatch):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    cine = inputs / "run.dcm"
    KINDS["dicom_cine"].write(cine)
    earlier = _earlier_run(out)
    real, pages = tifffile.TiffWriter.write, []

    def write(self, *args, **kwargs):
        pages.append(1)
        if len(pages) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffWriter, "write", write)
    code = main(["predict", "--checkpoint", str(checkpoint), str(cine), "--out", str(out)])
    lines = _problem_lines(capsys, caplog)
    assert code == 2 and len(lines) == 1 and "No space left on device" in lines[0], lines
    assert {p.name for p in out.iterdir()} == {"earlier_mask.png", "summary.csv"}
    assert _files(out)[out / "earlier_mask.png"] == earlier[out / "earlier_mask.png"]


def test_a_full_disk_while_saving_a_checkpoint_leaves_the_previous_one_and_no_temporary_file(
        checkpoint, tmp_path, monkeypatch):
    from dskd.checkpoint import load_checkpoint, save_checkpoint
    from dskd.errors import DskdError

    target = tmp_path / "run" / "last.pt"
    target.parent.mkdir()
    target.write_bytes(checkpoint.read_bytes())

    def full(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DskdError) as caught:
        save_checkpoint({"model": {}}, target)
    assert str(caught.value) == (f"{target}: cannot write (No space left on device); free some space "
                                 "or choose another location")
    assert [p.name for p in target.parent.iterdir()] == ["last.pt"]
    assert load_checkpoint(target)["epoch"] == 0


def test_evaluate_out_inside_the_pred_folder_is_refused(tmp_path, capsys, caplog):
    pred, labels = tmp_path / "pred", tmp_path / "labels"
    for folder in (pred, labels):
        _good(folder, "1.png")
    before = _files(pred)
    code = main(["evaluate", "--pred", str(pred), "--labels", str(labels), "--out", str(pred)])
    lines = _problem_lines(capsys, caplog)
    assert code == 2 and lines == [f"dskd: error: --out {pred} is the --pred folder; the report's files "
                                   "would mix with the images read from it; choose another --out"]
    assert _files(pred) == before


# ----------------------------------------------------------------------------------- Ctrl-C

def test_ctrl_c_during_a_cine_keeps_what_was_done_and_cleans_up_the_rest(checkpoint, tmp_path, capsys,
                                                                         caplog, monkeypatch):
    from dskd.deploy import predict

    inputs, out = tmp_path / "in", tmp_path / "out"
    first = _good(inputs, "a.png")
    broken = inputs / "b.png"
    broken.write_bytes(b"not an image")
    cine = inputs / "c.dcm"
    KINDS["dicom_cine"].write(cine)
    earlier = _earlier_run(out)
    real, calls = predict.frame_probabilities, []

    def interrupted_on_the_cines_second_frame(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # a.png, then frames 1 and 2 of c.dcm
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(predict, "frame_probabilities", interrupted_on_the_cines_second_frame)
    code = main(["predict", "--checkpoint", str(checkpoint), str(first), str(broken), str(cine),
                 "--out", str(out)])
    assert code == 130
    assert {p.name for p in out.iterdir()} == {"earlier_mask.png", "a_mask.png", "a_overlay.png",
                                               "summary.csv", "failed.txt"}
    assert (out / "failed.txt").read_text().startswith(f"{broken}\tunreadable image")
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [[str(first), "1"], [str(cine), "1"]]
    assert _files(out)[out / "earlier_mask.png"] == earlier[out / "earlier_mask.png"]
    _assert_nothing_left_behind(out)


def test_a_full_disk_during_training_is_one_line_and_leaves_no_temporary_checkpoint(tiny_dataset, tmp_path,
                                                                                    capsys, caplog,
                                                                                    monkeypatch):
    from tests.conftest import TINY_OVERRIDES

    def full(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    run, config = tmp_path / "run", tmp_path / "tiny.yaml"
    config.write_text("loss:\n  objective: dskd\n")
    argv = ["train", "--config", str(config), "--out", str(run),
            "--set", f"data.root={tiny_dataset}", *[x for o in TINY_OVERRIDES for x in ("--set", o)]]
    code = main(argv)
    lines = _problem_lines(capsys, caplog)
    assert code == 2 and len(lines) == 1, lines
    assert re.fullmatch(r"dskd: error: .*\.pt: cannot write \(No space left on device\); free some space "
                        r"or choose another location", lines[0]), lines
    assert not list(run.rglob("*.pt")) and not list(run.rglob(".*.tmp"))


def test_a_raw_pickle_is_one_line_without_torchs_warning(tmp_path, capsys):
    import pickle
    import warnings

    from dskd.checkpoint import load_checkpoint
    from dskd.errors import CheckpointError

    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match=r"raw.pt: not a readable dskd checkpoint \(not a PyTorch"):
            load_checkpoint(path)
    assert [str(w.message) for w in caught] == []  # torch's "Detected pickle protocol" is not shown
