import math

import pytest
import torch

from dskd.losses import alpha_schedule, pixel_self_distillation_loss


def test_alpha_follows_its_schedule():
    assert alpha_schedule(0, 10, 0.5) == 0.0
    assert alpha_schedule(5, 10, 0.5) == pytest.approx(0.25)
    assert alpha_schedule(9, 10, 0.5) == pytest.approx(0.45)
    values = [alpha_schedule(t, 7, 0.8) for t in range(7)]
    assert values == sorted(values) and max(values) < 0.8
    with pytest.raises(ValueError):
        alpha_schedule(10, 10, 0.5)


def test_hand_computed_soft_target():
    # student p = 0.75, teacher 0.8, label 1, alpha 0.5 -> target 0.9
    # BCE = -(0.9 ln 0.75 + 0.1 ln 0.25)
    student = torch.full((1, 1, 1, 1), math.log(3.0))
    teacher = torch.full((1, 1, 1, 1), 0.8)
    label = torch.ones(1, 1, 1, 1)
    expected = -(0.9 * math.log(0.75) + 0.1 * math.log(0.25))
    loss = pixel_self_distillation_loss(student, teacher, label, alpha_t=0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_without_teacher_is_bce_against_label():
    student = torch.randn(2, 1, 4, 4)
    label = (torch.rand(2, 1, 4, 4) > 0.5).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(student, label)
    assert torch.isclose(pixel_self_distillation_loss(student, None, label, alpha_t=0.4), bce)
    teacher = torch.rand(2, 1, 4, 4)
    assert torch.isclose(pixel_self_distillation_loss(student, teacher, label, alpha_t=0.0), bce)


def test_gradient_reaches_student_not_teacher():
    student = torch.randn(1, 1, 4, 4, requires_grad=True)
    teacher = torch.rand(1, 1, 4, 4, requires_grad=True)
    label = torch.ones(1, 1, 4, 4)
    pixel_self_distillation_loss(student, teacher, label, alpha_t=0.5).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
