import numpy as np
import pytest
from PIL import Image

from dskd.data.cases import Case, load_case
from dskd.data.io import read_image, read_mask
from dskd.errors import DataError


def test_8_and_16_bit_images_scale_to_unit_range(tmp_path):
    Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)).save(tmp_path / "b.png")
    assert read_image(tmp_path / "a.png").tolist() == [[0.0, 1.0]]
    assert read_image(tmp_path / "b.png").tolist() == [[0.0, 1.0]]


def test_rgb_becomes_luma(tmp_path):
    rgb = np.zeros((1, 2, 3), dtype=np.uint8)
    rgb[0, 1] = (255, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert read_image(tmp_path / "c.png")[0, 1] == pytest.approx(0.299, abs=1e-3)


def test_mask_binarisation_rule(tmp_path):
    values = np.zeros((20, 20), dtype=np.uint8)
    values[:5] = 255
    values[10, 10] = 200  # a stray in-between pixel (0.25%) is tolerated and binarised at > 127
    values[10, 11] = 100
    Image.fromarray(values).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.dtype == bool and mask[:5].all() and mask[10, 10] and not mask[10, 11]
    Image.fromarray((values > 0).astype(np.uint8)).save(tmp_path / "m01.png")
    assert read_mask(tmp_path / "m01.png").sum() == 100 + 2


def test_non_binary_mask_is_rejected(tmp_path):
    ramp = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (4, 1))
    Image.fromarray(ramp).save(tmp_path / "gray.png")
    with pytest.raises(DataError, match=r"gray.png: mask is not binary"):
        read_mask(tmp_path / "gray.png")


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"broken.png: unreadable image"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(DataError, match=r"nope.png: file not found"):
        read_image(tmp_path / "nope.png")


def test_size_mismatch_names_the_mask(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "i.png")
    Image.fromarray(np.zeros((8, 6), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(DataError, match=r"m.png: size 6x8 does not match its image"):
        load_case(Case("x", tmp_path / "i.png", tmp_path / "m.png"))


def test_green_channel_rule(tmp_path):
    rgb = np.zeros((1, 2, 3), dtype=np.uint8)
    rgb[0, 1] = (255, 51, 0)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert read_image(tmp_path / "c.png", gray="green")[0, 1] == pytest.approx(0.2)
    with pytest.raises(DataError, match="gray='blue' is not a conversion rule"):
        read_image(tmp_path / "c.png", gray="blue")


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")  # Pillow's remark on the broken file
def test_16_bit_colour_tiff_goes_through_tifffile(tmp_path):
    import tifffile

    rgb = np.zeros((2, 2, 3), dtype=np.uint16)
    rgb[0, 0] = (65535, 65535, 65535)
    rgb[1, 1] = (0, 65535, 0)
    tifffile.imwrite(tmp_path / "x.tif", rgb)
    image = read_image(tmp_path / "x.tif")
    assert image[0, 0] == pytest.approx(1.0) and image[1, 1] == pytest.approx(0.587)
    (tmp_path / "bad.tif").write_bytes(b"II*\x00 not really")
    with pytest.raises(DataError, match=r"bad.tif: unreadable image"):
        read_image(tmp_path / "bad.tif")


def test_label_map_foreground(tmp_path):
    Image.fromarray(np.array([[0, 1, 2, 2]], dtype=np.uint8)).save(tmp_path / "l.png")
    assert read_mask(tmp_path / "l.png", foreground_label=2).tolist() == [[False, False, True, True]]
    assert read_mask(tmp_path / "l.png", foreground_label=1).tolist() == [[False, True, False, False]]
    rgb = np.zeros((1, 2, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match="a label map must be a single-channel integer image"):
        read_mask(tmp_path / "rgb.png", foreground_label=1)
