import pytest
import torch

from dskd.config import LossConfig
from dskd.losses import deep_supervision_weights
from dskd.models import UNet
from dskd.training.objective import build_objective


def compute_objective(student, teacher, masks, *, config, alpha_t):
    return build_objective(config)(student, teacher, masks, alpha_t=alpha_t)


def needs_teacher(config):
    return build_objective(config).needs_teacher


def student_reads_side_outputs(config, *, teacher_ready):
    return build_objective(config).reads(teacher_ready=teacher_ready).student_sides


def teacher_reads_side_outputs(config):
    return build_objective(config).reads(teacher_ready=True).teacher_sides


@pytest.fixture()
def batch():
    torch.manual_seed(0)
    images = torch.randn(2, 1, 32, 32)
    masks = (torch.rand(2, 1, 32, 32) > 0.9).float()
    return images, masks


def test_deep_supervision_weights():
    assert deep_supervision_weights(3, 0.5) == pytest.approx([4 / 7, 2 / 7, 1 / 7])


@pytest.mark.parametrize("objective,parts", [
    ("dice", {"dice", "bce"}),
    ("deep_supervision", {"deep_supervision"}),
    ("pskd", {"dice", "psdl"}),
    ("ddl", {"dice", "ddl"}),
    ("dskd", {"dice", "psdl", "ddl"}),
])
def test_each_objective_has_its_terms(batch, objective, parts):
    images, masks = batch
    student, teacher = UNet(depth=2, width=4), UNet(depth=2, width=4).eval()
    with torch.no_grad():
        teacher_out = teacher(images)
    terms = compute_objective(student(images), teacher_out, masks,
                              config=LossConfig(objective=objective), alpha_t=0.3)
    assert set(terms.parts) == parts
    assert torch.isfinite(terms.total)


def test_dskd_without_teacher_uses_label_terms_only(batch):
    images, masks = batch
    out = UNet(depth=2, width=4)(images)
    terms = compute_objective(out, None, masks, config=LossConfig(), alpha_t=0.0)
    assert set(terms.parts) == {"dice", "psdl"}
    with_label_target = compute_objective(out, None, masks, config=LossConfig(ddl_target="label"),
                                          alpha_t=0.0)
    assert "ddl" in with_label_target.parts


def test_weights_scale_the_terms(batch):
    images, masks = batch
    student, teacher = UNet(depth=2, width=4), UNet(depth=2, width=4).eval()
    with torch.no_grad():
        teacher_out = teacher(images)
    out = student(images)
    base = compute_objective(out, teacher_out, masks, config=LossConfig(), alpha_t=0.3)
    heavier = compute_objective(out, teacher_out, masks, config=LossConfig(w_ddl=3.0), alpha_t=0.3)
    assert heavier.total.item() == pytest.approx(base.total.item() + 2 * base.parts["ddl"].item(),
                                                 rel=1e-5)


def test_gradients_reach_student_never_teacher(batch):
    images, masks = batch
    student, teacher = UNet(depth=2, width=4), UNet(depth=2, width=4).eval()
    with torch.no_grad():
        teacher_out = teacher(images)
    compute_objective(student(images), teacher_out, masks, config=LossConfig(),
                      alpha_t=0.3).total.backward()
    assert all(p.grad is not None for p in student.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_needs_teacher():
    assert not needs_teacher(LossConfig(objective="dice"))
    assert not needs_teacher(LossConfig(objective="ddl", ddl_target="label"))
    assert needs_teacher(LossConfig(objective="ddl"))
    assert needs_teacher(LossConfig(objective="pskd", ddl_target="label"))


@pytest.mark.parametrize("objective,target,ready,student_sides,teacher_sides", [
    ("dice", "teacher", True, False, False),
    ("pskd", "teacher", True, False, False),
    ("deep_supervision", "teacher", False, True, False),
    ("ddl", "teacher", False, False, True),  # no teacher yet: the DDL is skipped
    ("dskd", "teacher", True, True, True),
    ("dskd", "label", False, True, False),  # DDL against the label's patches from the start
])
def test_which_side_outputs_each_objective_reads(objective, target, ready, student_sides,
                                                 teacher_sides):
    config = LossConfig(objective=objective, ddl_target=target)
    assert student_reads_side_outputs(config, teacher_ready=ready) == student_sides
    assert teacher_reads_side_outputs(config) == teacher_sides


@pytest.mark.parametrize("objective", ["dice", "pskd", "dskd"])
def test_skipping_unread_side_outputs_leaves_the_loss_unchanged(batch, objective):
    images, masks = batch
    torch.manual_seed(1)
    student, teacher = UNet(depth=2, width=4), UNet(depth=2, width=4).eval()
    config = LossConfig(objective=objective)
    with torch.no_grad():
        full_teacher = teacher(images)
        lean_teacher = teacher(images, with_side_outputs=teacher_reads_side_outputs(config))
    full = compute_objective(student(images), full_teacher, masks, config=config, alpha_t=0.3)
    lean = compute_objective(
        student(images, with_side_outputs=student_reads_side_outputs(config, teacher_ready=True)),
        lean_teacher, masks, config=config, alpha_t=0.3)
    assert torch.equal(full.total, lean.total)


def test_custom_terms_sum_in_order_with_their_weights(batch):
    images, masks = batch
    student, teacher = UNet(depth=2, width=4), UNet(depth=2, width=4).eval()
    with torch.no_grad():
        teacher_out = teacher(images)
    out = student(images)
    preset = compute_objective(out, teacher_out, masks, config=LossConfig(), alpha_t=0.3)
    custom = compute_objective(out, teacher_out, masks, alpha_t=0.3, config=LossConfig(
        objective="custom", terms={"dice": 1.0, "psdl": 1.0, "ddl": 1.0}))
    assert torch.equal(preset.total, custom.total)  # dskd is exactly these three terms
    stacked = compute_objective(out, teacher_out, masks, alpha_t=0.3, config=LossConfig(
        objective="custom", terms={"deep_supervision": 1.0, "psdl": 0.5, "ddl": 2.0}))
    assert set(stacked.parts) == {"deep_supervision", "psdl", "ddl"}
    expected = (stacked.parts["deep_supervision"] + 0.5 * stacked.parts["psdl"]
                + 2.0 * stacked.parts["ddl"])
    assert stacked.total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_zero_weight_term_is_neither_read_nor_run():
    config = LossConfig(objective="custom", terms={"dice": 1.0, "ddl": 0.0, "psdl": 0.0})
    objective = build_objective(config)
    assert [name for name, _, _ in objective.terms] == ["dice"]
    assert not objective.needs_teacher
    assert not objective.reads(teacher_ready=True).student_sides


@pytest.mark.parametrize("term", ["cldice", "skeleton_recall"])
def test_topology_terms_train_the_main_output(batch, term):
    images, masks = batch
    student = UNet(depth=2, width=4)
    objective = build_objective(LossConfig(objective="custom", terms={"dice": 1.0, term: 1.0}))
    terms = objective(student(images, with_side_outputs=False), None, masks, alpha_t=0.0)
    assert set(terms.parts) == {"dice", term} and 0 < terms.parts[term].item() <= 1
    terms.total.backward()
    assert student.head.weight.grad.abs().sum() > 0


def test_every_term_option_is_a_loss_setting_with_the_terms_default():
    """A term declares where each option comes from (OPTIONS); the config holds each such key
    with the term's own default, so a preset means the same whichever side is read."""
    import dataclasses

    from dskd.losses.terms import TERMS

    settings = LossConfig()
    for term in TERMS.values():
        options = getattr(term, "OPTIONS", {})
        fields = {f.name: f.default for f in dataclasses.fields(term)}
        assert set(options) == set(fields), term.__name__  # every field is reachable from a config
        for option, key in options.items():
            assert getattr(settings, key) == fields[option], (term.__name__, option)


def test_term_options_reach_the_terms_from_the_config():
    from dskd.config import load_config

    config = load_config(None, ["loss.objective=custom",
                                "loss.terms={dice: 1, cldice: 1, skeleton_recall: 1}",
                                "loss.cldice_iterations=5", "loss.skeleton_tube_radius=2"])
    terms = {name: term for name, _, term in build_objective(config.loss).terms}
    assert terms["cldice"].iterations == 5 and terms["skeleton_recall"].tube_radius == 2
