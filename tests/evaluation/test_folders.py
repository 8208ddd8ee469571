"""Masks from any tool against labels, matched by file name; parity with the checkpoint path."""

import numpy as np
import pytest
import torch
from PIL import Image

from dskd.checkpoint import load_model, save_checkpoint
from dskd.config import config_to_dict, load_config
from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.data.synthetic import write_synthetic_dataset
from dskd.errors import DataError
from dskd.evaluation.evaluate import evaluate_checkpoint
from dskd.evaluation.folders import evaluate_folders, match_folders
from dskd.inference import predict_probabilities
from dskd.models.unet import build_model


def _save(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8) * 255 if array.dtype == bool else array).save(path)


def _line(row: int) -> np.ndarray:
    mask = np.zeros((32, 48), bool)
    mask[row, 4:44] = True
    return mask


@pytest.fixture()
def folders(tmp_path):
    """DCA1-like: images and <name>_gt labels share one folder; predictions named <name>."""
    data, pred = tmp_path / "data", tmp_path / "pred"
    for name, row in (("1", 8), ("2", 16), ("10", 24)):
        _save(data / f"{name}.png", np.full((32, 48), 120, np.uint8))
        _save(data / f"{name}_gt.png", _line(row))
        _save(pred / f"{name}.png", _line(row))
    broken = _line(16)
    broken[16, 20:24] = False
    _save(pred / "2.png", broken)
    return data, pred


def test_match_by_name_with_a_label_suffix(folders):
    data, pred = folders
    matched = match_folders(pred, data, label_suffix="_gt", images_dir=data)
    assert [m.name for m in matched] == ["1", "10", "2"]
    assert matched[0].label.name == "1_gt.png" and matched[0].image.name == "1.png"


def test_different_image_sets_are_refused(folders):
    data, pred = folders
    (pred / "10.png").unlink()
    _save(pred / "99.png", _line(3))
    with pytest.raises(DataError, match=r"1 predictions have no label \(99\); 1 labels have no "
                                        r"prediction \(10\)"):
        match_folders(pred, data, label_suffix="_gt")
    with pytest.raises(DataError, match=r"labels have no prediction \(10, 10_gt, 1_gt, \.\.\.\)"):
        match_folders(pred, data)  # without the suffix the images count as labels too


def test_missing_field_of_view_is_named(folders, tmp_path):
    data, pred = folders
    _save(tmp_path / "fov" / "1_mask.png", np.ones((32, 48), bool))
    with pytest.raises(DataError, match=r"no fov for 2 labelled images \(10, 2\)"):
        match_folders(pred, data, label_suffix="_gt", fov_dir=tmp_path / "fov", fov_suffix="_mask")


def test_scores_and_outputs(folders, tmp_path):
    data, pred = folders
    out = tmp_path / "eval"
    summary = evaluate_folders(pred, data, out, label_suffix="_gt", images_dir=data, report=True)
    assert summary.threshold is None and summary.threshold_policy == "external"
    assert summary.per_image["betti_0_error"].mean == pytest.approx(1 / 3)
    assert summary.per_image["dice"].median == 1.0
    assert summary.pooled["dice"] == pytest.approx(2 * 116 / (116 + 120))
    assert "auc_roc" not in summary.per_image
    assert (out / "report.html").is_file() and len(list((out / "overlays").glob("*.png"))) == 3
    rows = (out / "per_image.csv").read_text().splitlines()
    assert rows[0].startswith("name,dice,") and len(rows) == 4


def test_probability_maps_with_a_threshold(folders, tmp_path):
    data, pred = folders
    for path in pred.glob("*.png"):  # 0/255 masks -> soft maps: 200 on vessels, 60 elsewhere
        mask = np.asarray(Image.open(path)) > 0
        _save(path, np.where(mask, 200, 60).astype(np.uint8))
    with pytest.raises(DataError, match="mask is not binary"):
        evaluate_folders(pred, data, tmp_path / "e", label_suffix="_gt")
    summary = evaluate_folders(pred, data, tmp_path / "e", label_suffix="_gt", probability_threshold=0.5)
    assert summary.threshold_policy == "fixed" and summary.threshold == 0.5
    assert summary.per_image["dice"].mean == pytest.approx((1 + 1 + 72 / 76) / 3)
    # 116 of 120 vessel pixels score above every background pixel, 4 (the gap) tie with all of them.
    assert summary.pooled["auc_roc"] == pytest.approx(116 / 120 + 0.5 * 4 / 120)
    assert (tmp_path / "e" / "pr_curve.csv").is_file()


def test_same_masks_score_the_same_through_both_ways_in(tmp_path):
    """A checkpoint's thresholded output, saved and scored as a folder, gives identical figures."""
    data = write_synthetic_dataset(tmp_path / "data", n=2, size=48, seed=4, progress=False)
    config = load_config(None, ["model.depth=2", "model.width=4"])
    save_checkpoint({"config": config_to_dict(config), "model": build_model(config.model).state_dict(),
                     "epoch": 0, "threshold": 0.5}, tmp_path / "m.pt")
    a = evaluate_checkpoint(tmp_path / "m.pt", data, tmp_path / "a")
    model, _, threshold = load_model(tmp_path / "m.pt")
    for case in read_cases("folder", data):
        probs = predict_probabilities(model, load_case(case).image, torch.device("cpu"))
        _save(tmp_path / "pred" / f"{case.name}.png", probs >= threshold)
    b = evaluate_folders(tmp_path / "pred", data / "masks", tmp_path / "b")
    assert set(b.per_image) == set(a.per_image) - {"auc_roc", "average_precision"}
    for name, stats in b.per_image.items():
        assert stats == a.per_image[name], name
