"""ARCADE syntax layout: COCO polygons -> union vessel masks, the folder split, reported problems."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.data.readers.arcade import rasterise_polygons
from dskd.data.split_recipes import arcade as arcade_recipe
from dskd.data.splits import apply_split, parse_split
from dskd.errors import DataError

SIZE = 16
CATEGORIES = [{"id": 1, "name": "1"}, {"id": 2, "name": "2"}, {"id": 26, "name": "stenosis"}]


def _box(x0, y0, x1, y1):
    """A rectangle polygon [x, y, ...] that COCO fills over columns x0..x1-1, rows y0..y1-1."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def make_arcade(root, parts=None, *, annotations=None, extra_images=(), extra_files=()):
    """root/syntax/<part>/images/<k>.png and annotations/<part>.json; every image gets two
    segments (a horizontal and a vertical bar, category 1 and 2) unless `annotations` says."""
    parts = parts or {"train": 3, "val": 1, "test": 2}
    for part, n in parts.items():
        folder = root / "syntax" / part
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        images, anns = [], []
        for k in range(1, n + 1):
            Image.fromarray(np.full((SIZE, SIZE), 40 * k, np.uint8)).save(folder / "images" / f"{k}.png")
            images.append({"id": k, "file_name": f"{k}.png", "height": SIZE, "width": SIZE})
            anns += [{"id": 10 * k, "image_id": k, "category_id": 1, "segmentation": _box(2, 4, 12, 6)},
                     {"id": 10 * k + 1, "image_id": k, "category_id": 2, "segmentation": _box(8, 2, 10, 14)}]
        images += [dict(entry) for entry in extra_images]
        for name in extra_files:
            Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(folder / "images" / name)
        coco = {"images": images, "annotations": annotations if annotations is not None else anns,
                "categories": CATEGORIES}
        (folder / "annotations" / f"{part}.json").write_text(json.dumps(coco))
    return root


def test_mask_is_the_union_of_the_segment_polygons(tmp_path):
    make_arcade(tmp_path)
    cases = read_cases("arcade", tmp_path)
    assert [c.name for c in cases] == ["test_1", "test_2", "train_1", "train_2", "train_3", "val_1"]
    mask = load_case(cases[0]).mask
    expected = np.zeros((SIZE, SIZE), bool)
    expected[4:6, 2:12] = True   # segment 1: 10 x 2
    expected[2:14, 8:10] = True  # segment 2: 2 x 12, overlapping segment 1 in 2 x 2
    assert np.array_equal(mask, expected) and mask.sum() == 20 + 24 - 4
    assert cases[0].mask.parent.parent.name == "dskd_masks"


def test_stenosis_annotations_are_left_out(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 26, "segmentation": _box(0, 0, 16, 16)},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": _box(0, 0, 4, 4)}]
    make_arcade(tmp_path, {"train": 1, "val": 1, "test": 1}, annotations=anns)
    case = read_cases("arcade", tmp_path)[1]
    assert case.name == "train_1" and load_case(case).mask.sum() == 16


def test_problems_are_reported_not_dropped(tmp_path, caplog):
    anns = [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": _box(0, 0, 4, 4)},
            {"id": 7, "image_id": 1, "category_id": 2, "segmentation": _box(12, 12, 16, 16)},
            {"id": 8, "image_id": 99, "category_id": 1, "segmentation": _box(0, 0, 2, 2)}]
    with caplog.at_level(logging.INFO, logger="dskd.data.readers.arcade"):
        make_arcade(tmp_path, {"train": 2, "val": 1, "test": 1}, annotations=anns,
                    extra_files=["stray.png"])
        cases = {c.name: c for c in read_cases("arcade", tmp_path)}
    text = caplog.text
    assert "train.json: 1 duplicate annotation ids; all their polygons are kept in the mask (7)" in text
    assert "train.json: 1 images without any segment annotation; kept, with an empty mask (2.png)" in text
    assert "1 annotations name an image id that 'images' does not list" in text
    assert "1 image files that the annotation file does not list; not used (stray.png)" in text
    assert ("ARCADE train: 2 images, 2 segment annotations (2 polygons); 1 duplicate annotation ids, "
            "1 images without annotations, 1 annotations of unlisted images, 1 unlisted image files"
            in text)
    assert load_case(cases["train_1"]).mask.sum() == 32  # both polygons of the duplicated id
    assert not load_case(cases["train_2"]).mask.any()  # kept, empty
    assert "train_stray" not in cases


def test_masks_are_cached_by_annotation_content_and_mask_dir(tmp_path):
    root = make_arcade(tmp_path / "a")
    first = read_cases("arcade", root)[0].mask
    mtime = first.stat().st_mtime_ns
    assert read_cases("arcade", root)[0].mask == first and first.stat().st_mtime_ns == mtime
    source = root / "syntax" / "test" / "annotations" / "test.json"
    coco = json.loads(source.read_text())
    coco["annotations"] = coco["annotations"][1:]  # image 1 loses its horizontal bar
    source.write_text(json.dumps(coco))
    again = read_cases("arcade", root)[0].mask
    assert again != first and load_case(read_cases("arcade", root)[0]).mask.sum() == 24
    elsewhere = read_cases(f"arcade:mask_dir={tmp_path / 'cache'}", root)[0].mask
    assert elsewhere.is_relative_to(tmp_path / "cache" / "test")


def test_root_may_be_the_syntax_folder(tmp_path):
    make_arcade(tmp_path)
    assert len(read_cases("arcade", tmp_path / "syntax")) == 6


def test_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no syntax/ folder"):
        read_cases("arcade", tmp_path / "empty")
    root = make_arcade(tmp_path / "b")
    (root / "syntax" / "val" / "images" / "1.png").unlink()
    with pytest.raises(DataError, match=r"val/images/1.png: image listed in val.json not found"):
        read_cases("arcade", root)
    root = make_arcade(tmp_path / "c")
    (root / "syntax" / "test" / "annotations" / "test.json").write_text("{not json")
    with pytest.raises(DataError, match="test.json: not valid JSON"):
        read_cases("arcade", root)
    root = make_arcade(tmp_path / "d", extra_images=[{"id": 1, "file_name": "x.png", "height": 16,
                                                      "width": 16}])
    with pytest.raises(DataError, match="image id 1 / file x.png is listed twice"):
        read_cases("arcade", root)


def test_rasteriser_matches_hand_counts():
    # A right triangle x + y < 4: COCO fills the pixels whose centres (c + 0.5, r + 0.5) lie
    # inside it, c + r <= 2: 3 + 2 + 1 = 6 of them.
    triangle = rasterise_polygons([[[0, 0, 4, 0, 0, 4]]], 6, 6)
    assert triangle.sum() == 6 and triangle[0, :3].all() and not triangle[0, 3] and triangle[2, 0]
    assert not rasterise_polygons([], 3, 3).any()


def test_folder_split_maps_parts_to_folders(tmp_path):
    """The shipped split by position picks each folder's images when the folders hold
    1000 / 200 / 300 images (natural order: test_*, train_*, val_*)."""
    split = parse_split(arcade_recipe(), "arcade.json")
    names = ([f"test_{k}" for k in range(1, 301)] + [f"train_{k}" for k in range(1, 1001)]
             + [f"val_{k}" for k in range(1, 201)])
    from dskd.data.cases import Case
    cases = [Case(n, tmp_path / f"{n}.png") for n in names]
    for part, size in (("train", 1000), ("val", 200), ("test", 300)):
        chosen = apply_split(cases, split, part, source="arcade.json")
        assert len(chosen) == size and all(c.name.startswith(f"{part}_") for c in chosen)
