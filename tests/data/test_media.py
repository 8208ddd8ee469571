"""Reading frames: DICOM (single/multi-frame, MONOCHROME1/2, 8/16 bit, modality and VOI
transforms), multi-page TIFF, plain images, streaming, and damaged files."""

import tracemalloc

import numpy as np
import pytest
import tifffile
from PIL import Image

from dskd.data.media import is_dicom, is_media_file, iter_frames, probe
from dskd.errors import DataError
from tests.data.dicom_files import write_dicom


def _frames(path):
    return list(iter_frames(probe(path)))


def test_single_frame_8_bit_monochrome2(tmp_path):
    values = np.array([[0, 51], [204, 255]], dtype=np.uint8)
    info = probe(write_dicom(tmp_path / "a.dcm", values))
    assert (info.kind, info.n_frames, info.height, info.width) == ("dicom", 1, 2, 2)
    (frame,) = _frames(info.path)
    assert frame.dtype == np.float32
    np.testing.assert_allclose(frame, values / 255, atol=1e-6)


def test_multi_frame_16_bit_streams_in_order_with_frame_rate(tmp_path):
    frames = np.arange(5 * 3 * 4, dtype=np.uint16).reshape(5, 3, 4) * 60  # 12-bit values up to 3540
    info = probe(write_dicom(tmp_path / "cine.dcm", frames, bits_stored=12, frame_time_ms=66.66667))
    assert info.n_frames == 5 and info.fps == pytest.approx(15.0, abs=1e-3)
    read = _frames(info.path)
    assert len(read) == 5
    for got, stored in zip(read, frames, strict=True):
        np.testing.assert_allclose(got, stored / 4095, atol=1e-6)


def test_monochrome1_is_inverted(tmp_path):
    values = np.array([[0, 1000], [3000, 4095]], dtype=np.uint16)
    (frame,) = _frames(write_dicom(tmp_path / "m1.dcm", values, photometric="MONOCHROME1",
                                   bits_stored=12))
    np.testing.assert_allclose(frame, 1 - values / 4095, atol=1e-6)


def test_rescale_then_window_by_hand(tmp_path):
    # modality: 2 * stored - 10 -> 0, 50, 100, 190; output range [-10, 500] for 8 stored bits.
    # LINEAR window centre 50.5, width 101 (PS3.3 C.11.2.1.2): <= 0 -> low end, > 100 -> high end,
    # 50 -> the middle. MONOCHROME2, so no inversion.
    stored = np.array([[5, 30], [55, 100]], dtype=np.uint8)
    (frame,) = _frames(write_dicom(tmp_path / "w.dcm", stored, RescaleSlope=2, RescaleIntercept=-10,
                                   WindowCenter=50.5, WindowWidth=101))
    np.testing.assert_allclose(frame, [[0.0, 0.5], [1.0, 1.0]], atol=1e-6)


def test_window_in_shared_functional_groups_is_applied(tmp_path):
    from pydicom.dataset import Dataset

    voi, group = Dataset(), Dataset()
    voi.WindowCenter, voi.WindowWidth = 50.5, 101
    group.FrameVOILUTSequence = [voi]
    stored = np.array([[[0, 50], [100, 200]]] * 2, dtype=np.uint8)
    frames = _frames(write_dicom(tmp_path / "enh.dcm", stored, SharedFunctionalGroupsSequence=[group]))
    np.testing.assert_allclose(frames[1], [[0.0, 0.5], [1.0, 1.0]], atol=1e-6)


def test_signed_16_bit(tmp_path):
    values = np.array([[-32768, 0], [1000, 32767]], dtype=np.int16)
    (frame,) = _frames(write_dicom(tmp_path / "s.dcm", values, signed=True))
    np.testing.assert_allclose(frame, (values.astype(float) + 32768) / 65535, atol=1e-6)


def test_dicom_without_suffix_is_recognised(tmp_path):
    write_dicom(tmp_path / "IM000001", np.zeros((2, 2), np.uint8))
    (tmp_path / "notes").write_text("not an image")
    (tmp_path / "notes.txt").write_text("not an image either")
    assert is_dicom(tmp_path / "IM000001") and is_media_file(tmp_path / "IM000001")
    assert not is_media_file(tmp_path / "notes")
    assert probe(tmp_path / "IM000001").kind == "dicom"
    write_dicom(tmp_path / "1.2.840.10008.7", np.zeros((2, 2), np.uint8))  # named by its UID
    assert is_dicom(tmp_path / "1.2.840.10008.7") and not is_dicom(tmp_path / "notes.txt")


def test_frames_are_read_one_at_a_time(tmp_path):
    """Peak memory while reading a 300-frame run stays a small fraction of the file's size."""
    frames = np.random.default_rng(0).integers(0, 4096, (300, 64, 64), dtype=np.uint16)
    path = write_dicom(tmp_path / "long.dcm", frames, bits_stored=12)
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_frames(probe(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 300
    assert peak < path.stat().st_size / 5  # the whole pixel data is 2.4 MB; one frame 8 kB


def test_multi_page_tiff_and_rgb_page(tmp_path):
    stack = np.array([[[0, 65535]], [[65535, 0]], [[32768, 0]]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    info = probe(tmp_path / "stack.tif")
    assert (info.kind, info.n_frames, info.height, info.width) == ("tiff", 3, 1, 2)
    np.testing.assert_allclose(np.stack(_frames(info.path)), stack / 65535, atol=1e-6)
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1] = (255, 0, 0)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    (frame,) = _frames(tmp_path / "rgb.tif")
    assert frame[0, 1] == pytest.approx(0.299, abs=1e-3)


def test_colour_frames_follow_the_models_gray_rule(tmp_path):
    # A model trained on DRIVE's green channel must see the green channel at predict time too.
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 200
    rgb[..., 0] = 40
    Image.fromarray(rgb).save(tmp_path / "c.png")
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    for name in ("c.png", "c.tif"):
        (green,) = list(iter_frames(probe(tmp_path / name), gray="green"))
        (luma,) = list(iter_frames(probe(tmp_path / name)))
        assert np.allclose(green, 200 / 255)
        assert np.allclose(luma, (0.299 * 40 + 0.587 * 200) / 255, atol=1e-6)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".pgm", ".ppm", ".bmp"])
def test_plain_images_are_one_frame(tmp_path, suffix):
    values = np.tile(np.arange(0, 250, 50, dtype=np.uint8), (3, 1))
    picture = Image.fromarray(values) if suffix != ".ppm" else Image.fromarray(values).convert("RGB")
    picture.save(tmp_path / f"a{suffix}")
    info = probe(tmp_path / f"a{suffix}")
    assert (info.kind, info.n_frames, info.height, info.width) == ("image", 1, 3, 5)
    (frame,) = _frames(info.path)
    np.testing.assert_allclose(frame, values / 255, atol=0.03 if suffix == ".jpg" else 1e-6)


def test_damaged_files_raise_one_line_errors(tmp_path):
    (tmp_path / "junk.dcm").write_bytes(b"hello" * 40)
    with pytest.raises(DataError, match=r"junk.dcm: not a readable DICOM file"):
        probe(tmp_path / "junk.dcm")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(DataError, match=r"junk.tif: unreadable TIFF"):
        probe(tmp_path / "junk.tif")
    (tmp_path / "data.xyz").write_bytes(b"1234")
    with pytest.raises(DataError, match=r"data.xyz: unknown file type '.xyz'"):
        probe(tmp_path / "data.xyz")


def test_truncated_cine_fails_at_the_missing_frame(tmp_path):
    frames = np.zeros((10, 16, 16), np.uint16)
    data = write_dicom(tmp_path / "full.dcm", frames).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 16 * 16 * 2 * 4 - 10])
    info = probe(tmp_path / "cut.dcm")
    assert info.n_frames == 10
    read = []
    with pytest.raises(DataError, match=r"cut.dcm: cannot decode frame \d+ of 10"):
        for frame in iter_frames(info):
            read.append(frame)
    assert 1 <= len(read) < 10


def test_compressed_dicom_without_a_decoder_names_the_fix(tmp_path, monkeypatch):
    import pydicom.pixels
    from pydicom import dcmread
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG2MPML, JPEGLosslessSV1

    class Unavailable:
        is_available = False

    real = pydicom.pixels.get_decoder
    # Whether a JPEG Lossless decoder is installed depends on the machine: pretend it is not.
    monkeypatch.setattr(pydicom.pixels, "get_decoder",
                        lambda uid: Unavailable() if uid == JPEGLosslessSV1 else real(uid))
    path = write_dicom(tmp_path / "a.dcm", np.zeros((4, 4), np.uint8))
    for uid, expected in ((JPEGLosslessSV1, r"no decoder is installed; pip install 'dskd\[dicom\]'"),
                          (MPEG2MPML, "which pydicom cannot decode")):
        ds = dcmread(path)
        ds.file_meta.TransferSyntaxUID = uid
        ds.PixelData = encapsulate([b"\x00" * 16])
        ds.save_as(tmp_path / "c.dcm")
        with pytest.raises(DataError, match=f"c.dcm: pixel data .*{expected}"):
            probe(tmp_path / "c.dcm")
