import pytest
import torch

from dskd.metrics import confusion_counts, overlap_metrics


def _mask(values):
    return torch.tensor(values, dtype=torch.bool)[None]


def test_hand_computed_confusion_matrix():
    pred = _mask([[1, 1], [0, 0]])
    truth = _mask([[1, 0], [1, 0]])
    counts = confusion_counts(pred, truth)
    assert counts.tolist() == [[1, 1, 1, 1]]  # tp, fp, fn, tn
    m = overlap_metrics(counts)
    assert m["dice"].item() == pytest.approx(0.5)
    assert m["iou"].item() == pytest.approx(1 / 3)
    for name in ("accuracy", "sensitivity", "specificity", "precision"):
        assert m[name].item() == pytest.approx(0.5)


def test_larger_case():
    # tp=3, fp=1, fn=2, tn=10 -> dice 6/9, iou 3/6, acc 13/16, sens 3/5, spec 10/11, prec 3/4
    counts = torch.tensor([[3, 1, 2, 10]])
    m = overlap_metrics(counts)
    expected = {"dice": 6 / 9, "iou": 0.5, "accuracy": 13 / 16, "sensitivity": 0.6,
                "specificity": 10 / 11, "precision": 0.75}
    for name, value in expected.items():
        assert m[name].item() == pytest.approx(value)


def test_empty_masks_follow_zero_division_policy():
    empty = _mask([[0, 0], [0, 0]])
    counts = confusion_counts(empty, empty)
    assert overlap_metrics(counts)["dice"].item() == 1.0
    assert overlap_metrics(counts, zero_division=0.0)["dice"].item() == 0.0
    missed = confusion_counts(empty, _mask([[1, 0], [0, 0]]))
    m = overlap_metrics(missed)
    assert m["dice"].item() == 0.0 and m["sensitivity"].item() == 0.0
    assert m["precision"].item() == 1.0  # nothing predicted: no false alarm (policy value)


def test_pooled_differs_from_per_image_mean():
    counts = torch.tensor([[9, 1, 0, 90], [0, 0, 1, 99]])  # a good image and a missed tiny vessel
    per_image = overlap_metrics(counts, reduction="per_image")["dice"]
    pooled = overlap_metrics(counts, reduction="pooled")["dice"]
    assert per_image.tolist() == pytest.approx([18 / 19, 0.0])
    assert pooled.item() == pytest.approx(18 / 20)


def test_field_of_view_excludes_pixels():
    pred = _mask([[1, 1], [0, 0]])
    truth = _mask([[1, 0], [0, 0]])
    fov = _mask([[1, 0], [1, 1]])
    assert confusion_counts(pred, truth, fov).tolist() == [[1, 0, 0, 2]]


def test_rejects_shape_mismatch_and_bad_reduction():
    with pytest.raises(ValueError, match="shape"):
        confusion_counts(torch.zeros(1, 2, 2), torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="reduction"):
        overlap_metrics(torch.zeros(1, 4), reduction="mean")
