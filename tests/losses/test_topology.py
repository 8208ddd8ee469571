import torch

from dskd.losses.topology import skeleton_recall_loss, soft_cldice_loss, tubed_skeleton


def _bar(width: int) -> torch.Tensor:
    """(1, 1, 32, 32): a horizontal vessel `width` px thick across the image."""
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 16 - width // 2:16 - width // 2 + width, :] = 1
    return mask


def test_tubed_skeleton_is_the_centre_line_thickened():
    tube = tubed_skeleton(_bar(7), tube_radius=1)
    rows = tube[0, 0].sum(1)  # the bar spans rows 13-19, its centre line is row 16
    assert rows[15:18].min() >= 28  # 3 rows around the centre, nearly the whole length
    assert rows.sum() - rows[15:18].sum() <= 8  # only the skeleton's end spurs lie elsewhere


def test_skeleton_recall_counts_the_centre_line_not_the_width():
    target = _bar(7)
    centre_only = torch.full_like(target, -20.0)
    centre_only[..., 14:19, :] = 20.0  # covers the centre line, misses the vessel's rim
    assert skeleton_recall_loss(centre_only, target).item() < 0.02
    assert skeleton_recall_loss(torch.full_like(target, -20.0), target).item() > 0.95


def test_soft_cldice_is_low_for_the_label_itself_and_high_for_nothing():
    target = _bar(5)
    assert soft_cldice_loss((target - 0.5) * 40, target).item() < 0.05
    assert soft_cldice_loss(torch.full_like(target, -20.0), target).item() > 0.9
