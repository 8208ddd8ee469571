import pytest
import torch

from dskd.models import UNet
from dskd.training.frozen_copy import FrozenCopy


def _step(model: UNet) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(2, 1, 16, 16)).logits.mean()
    loss.backward()
    optimizer.step()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(),
                                                  strict=True))


def test_no_teacher_before_first_refresh():
    student = UNet(depth=2, width=4)
    teacher = FrozenCopy(student)
    assert teacher(torch.randn(1, 1, 16, 16)) is None


def test_snapshot_holds_previous_epoch_weights():
    torch.manual_seed(0)
    student = UNet(depth=2, width=4)
    teacher = FrozenCopy(student, kind="snapshot")
    _step(student)  # "epoch 1"
    teacher.refresh(student)
    epoch1 = {k: v.clone() for k, v in student.state_dict().items()}
    _step(student)  # "epoch 2": the teacher must still hold epoch 1
    assert not _same(teacher.model, student)
    assert all(torch.equal(v, epoch1[k]) for k, v in teacher.model.state_dict().items())
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())


def test_teacher_output_has_no_graph():
    student = UNet(depth=2, width=4)
    teacher = FrozenCopy(student)
    teacher.refresh(student)
    out = teacher(torch.randn(1, 1, 16, 16))
    assert not out.logits.requires_grad
    assert len(out.side_logits) == 2


def test_ema_moves_towards_student():
    torch.manual_seed(0)
    student = UNet(depth=2, width=4)
    teacher = FrozenCopy(student, kind="ema", ema_decay=0.9)
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    _step(student)
    teacher.update(student)
    name = "head.weight"
    expected = 0.9 * before[name] + 0.1 * student.state_dict()[name]
    assert torch.allclose(teacher.model.state_dict()[name], expected, atol=1e-6)


def test_state_round_trip():
    student = UNet(depth=2, width=4)
    teacher = FrozenCopy(student)
    _step(student)
    teacher.refresh(student)
    restored = FrozenCopy(UNet(depth=2, width=4))
    restored.load_state_dict(teacher.state_dict())
    assert restored.ready and _same(restored.model, teacher.model)
    with pytest.raises(ValueError, match="kind"):
        FrozenCopy(UNet(depth=2, width=4), kind="ema").load_state_dict(teacher.state_dict())


def _student_with_batchnorm_statistics() -> UNet:
    """A student whose BatchNorm layers hold non-trivial running statistics and affine weights."""
    torch.manual_seed(0)
    student = UNet(depth=2, width=4)
    with torch.no_grad():
        for module in student.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        for _ in range(3):
            student(torch.randn(4, 1, 16, 16) * 2 + 0.5)  # train mode: updates running stats
    return student


def _close(a, b) -> bool:
    return torch.allclose(a.logits, b.logits, atol=1e-5, rtol=1e-4) and all(
        torch.allclose(x, y, atol=1e-5, rtol=1e-4)
        for x, y in zip(a.side_logits, b.side_logits, strict=True))


def test_folded_teacher_computes_the_unfolded_network():
    # Folding BatchNorm into the convolutions reorders float operations: equal to ~1e-6, not bitwise.
    student = _student_with_batchnorm_statistics()
    teacher = FrozenCopy(student)
    teacher.refresh(student)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in teacher._runner.modules())
    images = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        reference = teacher.model(images)
    assert _close(teacher(images), reference)
    unfolded = FrozenCopy(student, fold_batchnorm=False)
    unfolded.refresh(student)
    assert _close(unfolded(images), reference)


def test_folded_ema_teacher_follows_its_updates_and_restores():
    student = _student_with_batchnorm_statistics()
    teacher = FrozenCopy(student, kind="ema", ema_decay=0.5)
    teacher.refresh(student)
    images = torch.randn(2, 1, 16, 16)
    before = teacher(images)
    _step(student)
    teacher.update(student)
    after = teacher(images)
    with torch.no_grad():
        assert _close(after, teacher.model(images)) and not _close(after, before)
    restored = FrozenCopy(UNet(depth=2, width=4), kind="ema")
    restored.load_state_dict(teacher.state_dict())
    assert _close(restored(images), after)


def test_teacher_skips_side_outputs_on_request_and_runs_channels_last():
    student = _student_with_batchnorm_statistics()
    teacher = FrozenCopy(student)
    teacher.refresh(student)
    images = torch.randn(2, 1, 16, 16)
    assert teacher(images, with_side_outputs=False).side_logits == ()
    row_major = teacher(images)
    teacher.to("cpu", memory_format=torch.channels_last)
    nhwc = teacher(images.contiguous(memory_format=torch.channels_last))
    assert _close(nhwc, row_major)
