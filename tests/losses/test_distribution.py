import math

import pytest
import torch

from dskd.losses import deep_distribution_loss, patch_distribution


def _teacher_with_one_full_patch() -> torch.Tensor:
    teacher = torch.full((1, 1, 4, 4), 0.5)
    teacher[..., :2, :2] = 1.0  # top-left 2x2 patch entirely vessel
    return teacher


def test_frequency_vectors():
    probs = torch.zeros(1, 1, 4, 4)
    probs[..., :2, :2] = 1.0
    probs[..., 2:, 2:] = 0.25
    dist = patch_distribution(probs, num_patches=4)
    assert dist.shape == (1, 4, 2)
    expected = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.25, 0.75]])
    assert torch.allclose(dist[0], expected)


def test_hand_computed_frequency_kl():
    # Only the top-left patch differs: KL([1, 0] || [0.5, 0.5]) = ln 2, averaged over 4 patches.
    student = torch.full((1, 1, 4, 4), 0.5)
    loss = deep_distribution_loss([student], [_teacher_with_one_full_patch()], num_patches=4)
    assert loss.item() == pytest.approx(math.log(2) / 4, abs=1e-4)
    two_sides = deep_distribution_loss([student, student], [_teacher_with_one_full_patch()] * 2,
                                       num_patches=4)
    assert two_sides.item() == pytest.approx(2 * math.log(2) / 4, abs=2e-4)


def test_hand_computed_softmax_kl():
    # Counts [4, 0] / tau=3 vs [2, 2] / 3: teacher softmax = [e^(4/3), 1] / (e^(4/3) + 1).
    student = torch.full((1, 1, 4, 4), 0.5)
    t1 = math.exp(4 / 3) / (math.exp(4 / 3) + 1)
    kl = t1 * math.log(t1 / 0.5) + (1 - t1) * math.log((1 - t1) / 0.5)
    loss = deep_distribution_loss([student], [_teacher_with_one_full_patch()], num_patches=4,
                                  form="softmax", tau=3.0)
    assert loss.item() == pytest.approx(kl / 4, rel=1e-4)


def test_softmax_of_raw_counts_saturates():
    # A 32x32 patch holds ~1000 pixels: with tau=3, a small change in the foreground share leaves
    # the softmax vector one-hot, which is why METHOD.md warns about this form.
    a = torch.full((1, 1, 32, 32), 0.10)
    b = torch.full((1, 1, 32, 32), 0.20)
    da = patch_distribution(a, num_patches=1, form="softmax", tau=3.0)
    db = patch_distribution(b, num_patches=1, form="softmax", tau=3.0)
    assert torch.allclose(da, db, atol=1e-6)
    assert da[0, 0, 1] > 0.999


def test_softmax_of_fractions_is_hand_computed_and_keeps_a_gradient():
    # A foreground share of 0.25 with tau 0.1: softmax([0.25, 0.75] / 0.1) = [1, e^5] / (1 + e^5).
    probs = torch.full((1, 1, 8, 8), 0.25, requires_grad=True)
    vector = patch_distribution(probs, num_patches=1, form="softmax_fraction", tau=0.1)
    expected = 1 / (1 + math.exp(5.0))
    assert vector[0, 0].tolist() == pytest.approx([expected, 1 - expected], rel=1e-5)
    vector[0, 0, 0].backward()  # unlike softmax of raw counts, a 0.1 change in share moves it
    assert probs.grad.abs().sum() > 0.01
    with pytest.raises(ValueError, match="valid: frequency, softmax, softmax_fraction"):
        patch_distribution(probs, num_patches=1, form="softmaxx")


def test_zero_when_equal_and_grows_as_they_part():
    torch.manual_seed(0)
    base = torch.rand(2, 1, 16, 16)
    assert deep_distribution_loss([base], [base.clone()]).item() == pytest.approx(0, abs=1e-7)
    losses = [deep_distribution_loss([base], [(base + shift).clamp(0, 1)]).item()
              for shift in (0.05, 0.15, 0.3)]
    assert losses[0] > 0 and losses == sorted(losses)


def test_direction_matters():
    student = torch.full((1, 1, 4, 4), 0.5)
    teacher = _teacher_with_one_full_patch()
    forward = deep_distribution_loss([student], [teacher], num_patches=4)
    reverse = deep_distribution_loss([student], [teacher], num_patches=4, direction="student_teacher")
    assert not torch.isclose(forward, reverse)


def test_gradient_reaches_student_not_teacher():
    student_logits = torch.zeros(1, 1, 8, 8, requires_grad=True)
    teacher = torch.rand(1, 1, 8, 8, requires_grad=True)
    deep_distribution_loss([torch.sigmoid(student_logits)], [teacher], num_patches=4).backward()
    assert student_logits.grad.abs().sum() > 0
    assert teacher.grad is None


def test_rejects_bad_arguments():
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match="perfect square"):
        patch_distribution(x, num_patches=5)
    with pytest.raises(ValueError, match="2 student side outputs but 1"):
        deep_distribution_loss([x, x], [x])
