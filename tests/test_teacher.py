import pytest
import torch

from dskd.models import UNet
from dskd.teacher import Teacher


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
    teacher = Teacher(student)
    assert teacher(torch.randn(1, 1, 16, 16)) is None


def test_snapshot_holds_previous_epoch_weights():
    torch.manual_seed(0)
    student = UNet(depth=2, width=4)
    teacher = Teacher(student, kind="snapshot")
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
    teacher = Teacher(student)
    teacher.refresh(student)
    out = teacher(torch.randn(1, 1, 16, 16))
    assert not out.logits.requires_grad
    assert len(out.side_logits) == 2


def test_ema_moves_towards_student():
    torch.manual_seed(0)
    student = UNet(depth=2, width=4)
    teacher = Teacher(student, kind="ema", ema_decay=0.9)
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    _step(student)
    teacher.update(student)
    name = "head.weight"
    expected = 0.9 * before[name] + 0.1 * student.state_dict()[name]
    assert torch.allclose(teacher.model.state_dict()[name], expected, atol=1e-6)


def test_state_round_trip():
    student = UNet(depth=2, width=4)
    teacher = Teacher(student)
    _step(student)
    teacher.refresh(student)
    restored = Teacher(UNet(depth=2, width=4))
    restored.load_state_dict(teacher.state_dict())
    assert restored.ready and _same(restored.model, teacher.model)
    with pytest.raises(ValueError, match="kind"):
        Teacher(UNet(depth=2, width=4), kind="ema").load_state_dict(teacher.state_dict())
