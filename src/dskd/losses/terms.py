"""An objective is a weighted sum of terms; each term says which network outputs it reads.

    objective = Objective((("dice", 1.0, Dice()), ("psdl", 1.0, Psdl()), ("ddl", 1.0, Ddl())))
    reads = objective.reads(teacher_ready=True)   # which outputs this step must compute
    loss = objective(student_out, teacher_out, masks, alpha_t=0.2)

A term is a small object with `reads(teacher_ready=...)` and `__call__(inputs) -> scalar or None`
(None: nothing to compute this step, e.g. distillation before the teacher exists). Adding a term
is one class here and one entry in TERMS; the training loop never asks which terms it has.

A term's options are its dataclass fields. OPTIONS names the setting each one is read from (a key
of the config's `loss` section) and __post_init__ checks their ranges (TermOptionError), so
`build_term` turns settings into a term and the config's validation reports a bad value by its
key: one place says what a term accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from dskd.losses.dice import soft_dice_loss
from dskd.losses.distribution import DdlForm, deep_distribution_loss
from dskd.losses.self_distillation import pixel_self_distillation_loss
from dskd.losses.topology import skeleton_recall_loss, soft_cldice_loss
from dskd.models.unet import UNetOutput

__all__ = [
    "TERMS", "Bce", "ClDice", "Ddl", "DeepSupervision", "Dice", "LossTerms", "Objective", "Psdl",
    "Reads", "SkeletonRecall", "Term", "TermInputs", "TermOptionError", "build_term",
    "deep_supervision_weights",
]


class TermOptionError(ValueError):
    """A term option out of its range; `option` is the term's field, the message says the range."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


def _require(ok: bool, option: str, message: str) -> None:
    if not ok:
        raise TermOptionError(option, message)


@dataclass(frozen=True)
class Reads:
    """The outputs a term (or an objective) reads in a step, beyond the student's main logits and
    the label, which every term may read."""

    student_sides: bool = False
    teacher_main: bool = False
    teacher_sides: bool = False

    def __or__(self, other: Reads) -> Reads:
        return Reads(self.student_sides or other.student_sides,
                     self.teacher_main or other.teacher_main,
                     self.teacher_sides or other.teacher_sides)

    @property
    def teacher(self) -> bool:
        return self.teacher_main or self.teacher_sides


@dataclass(frozen=True)
class TermInputs:
    """student: logits (B, 1, H, W) and side logits; teacher: the teacher's outputs on the same
    crops (no gradient) or None before it exists; target: float (B, 1, H, W) in {0, 1};
    alpha_t: the PSDL softening of this epoch (dskd.losses.self_distillation.alpha_schedule)."""

    student: UNetOutput
    teacher: UNetOutput | None
    target: Tensor
    alpha_t: float


class Term(Protocol):
    def reads(self, *, teacher_ready: bool) -> Reads: ...

    def __call__(self, inputs: TermInputs) -> Tensor | None: ...


@dataclass(frozen=True)
class LossTerms:
    """total: the scalar to back-propagate; parts: detached scalar terms for logging."""

    total: Tensor
    parts: dict[str, Tensor]


@dataclass(frozen=True)
class Dice:
    """Soft Dice of the main output against the label."""

    def reads(self, *, teacher_ready: bool) -> Reads:
        return Reads()

    def __call__(self, inputs: TermInputs) -> Tensor:
        return soft_dice_loss(inputs.student.logits, inputs.target)


@dataclass(frozen=True)
class Bce:
    """Binary cross-entropy of the main output against the label."""

    def reads(self, *, teacher_ready: bool) -> Reads:
        return Reads()

    def __call__(self, inputs: TermInputs) -> Tensor:
        return F.binary_cross_entropy_with_logits(inputs.student.logits.float(), inputs.target)


@dataclass(frozen=True)
class Psdl:
    """Pixel-wise Self-knowledge Distillation; against the label alone until the teacher exists."""

    def reads(self, *, teacher_ready: bool) -> Reads:
        return Reads(teacher_main=True)

    def __call__(self, inputs: TermInputs) -> Tensor:
        teacher = inputs.teacher
        teacher_probs = torch.sigmoid(teacher.logits) if teacher is not None else None
        return pixel_self_distillation_loss(inputs.student.logits, teacher_probs, inputs.target,
                                            alpha_t=inputs.alpha_t)


@dataclass(frozen=True)
class Ddl:
    """Deep Distribution Loss of the side outputs against the teacher's (target="teacher"; skipped
    until the teacher exists) or against the label's patches (target="label")."""

    num_patches: int = 16
    form: DdlForm = "frequency"
    tau: float = 3.0
    direction: Literal["teacher_student", "student_teacher"] = "teacher_student"
    target: Literal["teacher", "label"] = "teacher"
    OPTIONS: ClassVar[dict[str, str]] = {"num_patches": "ddl_patches", "form": "ddl_form", "tau": "tau",
                                         "direction": "ddl_direction", "target": "ddl_target"}

    def __post_init__(self) -> None:
        _require(self.num_patches >= 1 and round(self.num_patches**0.5) ** 2 == self.num_patches,
                 "num_patches", "must be a perfect square (4, 16, 64, ...)")
        _require(self.tau > 0, "tau", "must be > 0")

    def reads(self, *, teacher_ready: bool) -> Reads:
        by_teacher = self.target == "teacher"
        return Reads(student_sides=not by_teacher or teacher_ready, teacher_sides=by_teacher)

    def __call__(self, inputs: TermInputs) -> Tensor | None:
        sides = inputs.student.side_logits
        if self.target == "label":
            side_targets = [inputs.target] * len(sides)
        elif inputs.teacher is not None:
            side_targets = [torch.sigmoid(t) for t in inputs.teacher.side_logits]
        else:
            return None  # first epoch: no teacher yet
        return deep_distribution_loss([torch.sigmoid(s) for s in sides], side_targets,
                                      num_patches=self.num_patches, form=self.form, tau=self.tau,
                                      direction=self.direction)


def deep_supervision_weights(num_outputs: int, decay: float) -> list[float]:
    """Weights decay**k for output k = 0 (main) .. num_outputs - 1, normalised to sum to 1."""
    raw = [decay**k for k in range(num_outputs)]
    return [w / sum(raw) for w in raw]


@dataclass(frozen=True)
class DeepSupervision:
    """Dice + BCE on the main output and on every side output, weights decay**k (nnU-Net style)."""

    decay: float = 0.5
    OPTIONS: ClassVar[dict[str, str]] = {"decay": "deep_supervision_decay"}

    def __post_init__(self) -> None:
        _require(0 < self.decay <= 1, "decay", "must be in (0, 1]")

    def reads(self, *, teacher_ready: bool) -> Reads:
        return Reads(student_sides=True)

    def __call__(self, inputs: TermInputs) -> Tensor:
        outputs = (inputs.student.logits, *inputs.student.side_logits)
        weights = deep_supervision_weights(len(outputs), self.decay)
        target = inputs.target
        return sum(w * (soft_dice_loss(o, target)
                        + F.binary_cross_entropy_with_logits(o.float(), target))
                   for w, o in zip(weights, outputs, strict=True))


@dataclass(frozen=True)
class ClDice:
    """Soft clDice of the main output (MONAI's SoftclDiceLoss)."""

    iterations: int = 3  # soft-skeleton iterations: reach of the skeleton into thick vessels
    OPTIONS: ClassVar[dict[str, str]] = {"iterations": "cldice_iterations"}

    def __post_init__(self) -> None:
        _require(self.iterations >= 1, "iterations", "must be >= 1")

    def reads(self, *, teacher_ready: bool) -> Reads:
        return Reads()

    def __call__(self, inputs: TermInputs) -> Tensor:
        return soft_cldice_loss(inputs.student.logits, inputs.target, iterations=self.iterations)


@dataclass(frozen=True)
class SkeletonRecall:
    """Recall of the label's tubed skeleton by the main output."""

    tube_radius: int = 1  # pixels the label's skeleton is widened by (0: the skeleton itself)
    OPTIONS: ClassVar[dict[str, str]] = {"tube_radius": "skeleton_tube_radius"}

    def __post_init__(self) -> None:
        _require(self.tube_radius >= 0, "tube_radius", "must be >= 0")

    def reads(self, *, teacher_ready: bool) -> Reads:
        return Reads()

    def __call__(self, inputs: TermInputs) -> Tensor:
        return skeleton_recall_loss(inputs.student.logits, inputs.target,
                                    tube_radius=self.tube_radius)


# Every term by the name a config gives it (loss.terms), the name its value is logged under.
TERMS: dict[str, type] = {
    "dice": Dice, "bce": Bce, "psdl": Psdl, "ddl": Ddl, "deep_supervision": DeepSupervision,
    "cldice": ClDice, "skeleton_recall": SkeletonRecall,
}


def build_term(name: str, settings: Any) -> Term:
    """The term `name` with its options read from `settings` (any object with the attributes its
    OPTIONS name: the config's loss section); TermOptionError when one is out of range."""
    term = TERMS[name]
    options = getattr(term, "OPTIONS", {})
    return term(**{option: getattr(settings, key) for option, key in options.items()})


@dataclass(frozen=True)
class Objective:
    """sum_k weight_k * term_k, in the given order; terms of weight 0 are neither read nor run."""

    terms: tuple[tuple[str, float, Term], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(t for t in self.terms if t[1] != 0))

    def reads(self, *, teacher_ready: bool) -> Reads:
        reads = Reads()
        for _, _, term in self.terms:
            reads = reads | term.reads(teacher_ready=teacher_ready)
        return reads

    @property
    def needs_teacher(self) -> bool:
        """Whether any term ever reads the teacher's outputs."""
        return self.reads(teacher_ready=True).teacher

    def __call__(self, student: UNetOutput, teacher: UNetOutput | None, target: Tensor, *,
                 alpha_t: float) -> LossTerms:
        """The objective on one batch: target (B, 1, H, W) binary; see TermInputs."""
        inputs = TermInputs(student=student, teacher=teacher, target=target.float(),
                            alpha_t=alpha_t)
        total: Tensor | None = None
        parts: dict[str, Tensor] = {}
        for name, weight, term in self.terms:
            value = term(inputs)
            if value is None:
                continue
            parts[name] = value.detach()
            weighted = value if weight == 1 else weight * value
            total = weighted if total is None else total + weighted
        if total is None:
            raise ValueError("the objective has no term to compute in this step")
        return LossTerms(total=total, parts=parts)
