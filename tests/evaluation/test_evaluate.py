"""The scoring core of `dskd evaluate`: rows, field of view, summary keys and pooling rules."""

import json
import math

import numpy as np
import pytest
import torch

from dskd.data.cases import CaseArrays
from dskd.metrics import METRICS, OVERLAP_METRICS, Protocol
from dskd.metrics.scoring import (
    pooled_probabilistic,
    score_masks,
    score_predictions,
    summarize,
)


def _case(name: str, mask: np.ndarray, fov: np.ndarray | None = None) -> CaseArrays:
    return CaseArrays(name, np.zeros(mask.shape, np.float32), mask, fov)


def _line(row: int = 10) -> np.ndarray:
    mask = np.zeros((24, 40), bool)
    mask[row, 4:36] = True
    return mask


def test_default_protocol_keeps_the_fast_overlap_rows():
    truth = _line()
    probs = truth.astype(np.float32) * 0.9
    rows, counts = score_predictions([_case("a", truth)], [probs], threshold=0.5)
    assert set(OVERLAP_METRICS) <= set(rows[0]) and "cldice" not in rows[0] and "hd95" not in rows[0]
    assert rows[0]["dice"] == 1.0 and counts.tolist() == [[32, 0, 0, 24 * 40 - 32]]


def test_full_protocol_scores_a_broken_line():
    truth = _line()
    pred = truth.copy()
    pred[10, 18:20] = False
    rows, _ = score_masks([_case("a", truth)], [pred], protocol=Protocol())
    row = rows[0]
    assert row["dice"] == pytest.approx(60 / 62)
    assert row["betti_0_error"] == 1 and row["component_ratio"] == 2
    assert row["cldice"] == pytest.approx(2 * (30 / 32) / (1 + 30 / 32))
    # Label to prediction: 30 distances of 0 and the 2 gap pixels at 1; MONAI's 95th percentile
    # interpolates linearly at position 0.95 * 31 = 29.45 of the sorted list: 0.45.
    assert row["hd95"] == pytest.approx(0.45, abs=1e-5)
    assert "auc_roc" not in row  # binary masks: no ranking, no AUC


def test_outside_the_field_of_view_nothing_counts():
    truth = _line()
    fov = np.zeros_like(truth)
    fov[:, :30] = True
    pred = truth.copy()
    pred[20, 32:38] = True  # a false alarm outside the field of view, as a separate component
    rows, counts = score_masks([_case("a", truth, fov)], [pred], protocol=Protocol())
    assert counts[0].tolist() == [26, 0, 0, int(fov.sum()) - 26]
    assert rows[0]["betti_0_error"] == 0 and rows[0]["hd95"] == 0


def test_empty_prediction_is_counted_and_scored_by_policy():
    cases = [_case("hit", _line()), _case("miss", _line(5))]
    preds = [_line(), np.zeros((24, 40), bool)]
    for policy, expected in (("diagonal", math.hypot(24, 40)), ("nan", None)):
        rows, counts = score_masks(cases, preds, protocol=Protocol(empty_policy=policy))
        summary = summarize(rows, counts, threshold=0.5, threshold_policy="fixed",
                            protocol=Protocol(empty_policy=policy))
        assert summary.empty_masks == {"prediction": 1, "label": 0, "both": 0}
        if expected is None:
            assert summary.per_image["hd95"].n == 1 and summary.per_image["hd95"].mean == 0
        else:
            assert summary.per_image["hd95"].mean == pytest.approx(expected / 2)


def test_summary_is_backwards_compatible_and_states_pooling():
    truth_a, truth_b = _line(), _line(5)
    pred_b = truth_b.copy()
    pred_b[5, 4:20] = False
    probs = [truth_a * 0.8 + 0.1, pred_b * 0.7 + 0.2]
    cases = [_case("a", truth_a), _case("b", truth_b)]
    rows, counts = score_predictions(cases, probs, threshold=0.5, protocol=Protocol())
    pooled_extra, curve = pooled_probabilistic(cases, probs)
    summary = summarize(rows, counts, threshold=0.5, threshold_policy="fixed", protocol=Protocol(),
                        pooled_extra=pooled_extra)
    layout = summary.to_dict()  # what summary.json holds
    for key in ("n_images", "threshold", "threshold_policy", "per_image", "pooled"):
        assert key in layout
    for name in OVERLAP_METRICS:
        assert {"mean", "std"} <= set(layout["per_image"][name]) and name in summary.pooled
    for name in ("hd95", "assd", "betti_0_error", "betti_1_error", "component_ratio"):
        assert name in summary.per_image and name not in summary.pooled
        assert name in summary.per_image_only and METRICS[name].pooled is None
    # pooled clDice from summed skeleton counts: (32 + 16) of (32 + 16) predicted centreline inside,
    # (32 + 16) of (32 + 32) label centreline found.
    t_sens = 48 / 64
    assert summary.pooled["cldice"] == pytest.approx(2 * t_sens / (1 + t_sens))
    assert summary.pooled["dice"] == pytest.approx(2 * 48 / (48 + 64))
    assert summary.protocol["connectivity"] == 8 and curve["recall"][-1] == 1.0
    json.dumps(layout, allow_nan=False)  # NaN never reaches the file


def test_size_mismatch_and_missing_label_are_user_errors():
    from dskd.errors import DataError

    with pytest.raises(DataError, match="does not match its label"):
        score_masks([_case("a", _line())], [np.zeros((5, 5), bool)])
    with pytest.raises(DataError, match="has no mask"):
        score_masks([CaseArrays("a", np.zeros((3, 3), np.float32), None, None)], [np.zeros((3, 3), bool)])


def test_scoring_restores_torch_threads():
    before = torch.get_num_threads()
    score_masks([_case("a", _line())], [_line()], protocol=Protocol())
    assert torch.get_num_threads() == before


def test_checkpoint_evaluation_with_a_field_of_view(tmp_path):
    from PIL import Image

    from dskd.checkpoint import save_checkpoint
    from dskd.config import config_to_dict, load_config
    from dskd.data.synthetic import write_synthetic_dataset
    from dskd.errors import DataError
    from dskd.evaluation.evaluate import evaluate_checkpoint
    from dskd.metrics.scoring import OVERLAP_ONLY
    from dskd.models.unet import build_model

    data = write_synthetic_dataset(tmp_path / "data", n=2, size=32, seed=4, progress=False)
    config = load_config(None, ["model.depth=2", "model.width=4"])
    save_checkpoint({"config": config_to_dict(config), "model": build_model(config.model).state_dict(),
                     "epoch": 0, "threshold": 0.5}, tmp_path / "m.pt")
    fov = np.zeros((32, 32), np.uint8)
    fov[4:28, 4:28] = 255
    (tmp_path / "fov").mkdir()
    Image.fromarray(fov).save(tmp_path / "fov" / "case_0000_mask.png")
    with pytest.raises(DataError, match="no field-of-view mask named case_0001_mask"):
        evaluate_checkpoint(tmp_path / "m.pt", data, tmp_path / "e", fov_dir=tmp_path / "fov",
                            fov_suffix="_mask", protocol=OVERLAP_ONLY)
    Image.fromarray(fov).save(tmp_path / "fov" / "case_0001_mask.png")
    summary = evaluate_checkpoint(tmp_path / "m.pt", data, tmp_path / "e", fov_dir=tmp_path / "fov",
                                  fov_suffix="_mask", threshold=0.3, protocol=OVERLAP_ONLY)
    assert summary.sources["fov"] == str(tmp_path / "fov") and summary.threshold == 0.3
    rows = (tmp_path / "e" / "per_image.csv").read_text().splitlines()
    header = rows[0].split(",")
    for line in rows[1:]:
        cells = line.split(",")
        assert sum(int(cells[header.index(k)]) for k in ("tp", "fp", "fn", "tn")) == 24 * 24
