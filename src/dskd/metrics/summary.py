"""The summary of an evaluation: what summary.json holds, as one typed object.

Made by dskd.metrics.scoring.summarize; read back from summary.json with `EvaluationSummary.read`
by compare and the reports. `to_dict()` gives the JSON layout (docs/evaluation.md).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dskd.errors import DataError

__all__ = ["EvaluationSummary", "MetricStats"]

# Where the scored images and predictions came from; written at the top level of summary.json.
SOURCE_KEYS = ("checkpoint", "data", "predictions", "labels", "fov", "training_log")


@dataclass(frozen=True)
class MetricStats:
    """Per-image statistics of one metric over the images where it is defined (n of them);
    std is the population std (ddof=0). None when no image defines it."""

    mean: float | None
    std: float | None
    median: float | None
    n: int


@dataclass(frozen=True)
class EvaluationSummary:
    n_images: int
    threshold: float | None  # None: the masks were binarised by another tool ("external")
    threshold_policy: str  # fixed, validation or external
    per_image: dict[str, MetricStats]
    pooled: dict[str, float | None]  # figures over all pixels of all images; None if undefined
    pooled_definition: dict[str, str]
    per_image_only: tuple[str, ...]
    empty_masks: dict[str, int] | None = None  # images with an empty prediction / label / both
    protocol: dict[str, Any] | None = None
    sources: dict[str, str | None] = field(default_factory=dict)  # see SOURCE_KEYS

    def with_sources(self, **sources: str | None) -> EvaluationSummary:
        unknown = set(sources) - set(SOURCE_KEYS)
        if unknown:
            raise ValueError(f"unknown summary sources {sorted(unknown)}; valid: {SOURCE_KEYS}")
        return dataclasses.replace(self, sources={**self.sources, **sources})

    def mean(self, metric: str) -> float | None:
        stats = self.per_image.get(metric)
        return stats.mean if stats is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The layout of summary.json."""
        out: dict[str, Any] = {
            "n_images": self.n_images, "threshold": self.threshold,
            "threshold_policy": self.threshold_policy,
            "per_image": {k: dataclasses.asdict(v) for k, v in self.per_image.items()},
            "pooled": dict(self.pooled), "pooled_definition": dict(self.pooled_definition),
            "per_image_only": list(self.per_image_only),
        }
        if self.empty_masks is not None:
            out["empty_masks"] = dict(self.empty_masks)
        if self.protocol is not None:
            out["protocol"] = dict(self.protocol)
        return {**out, **self.sources}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EvaluationSummary:
        try:
            return cls(
                n_images=int(raw["n_images"]), threshold=raw["threshold"],
                threshold_policy=raw["threshold_policy"],
                per_image={k: MetricStats(**v) for k, v in raw["per_image"].items()},
                pooled=dict(raw.get("pooled", {})),
                pooled_definition=dict(raw.get("pooled_definition", {})),
                per_image_only=tuple(raw.get("per_image_only", ())),
                empty_masks=raw.get("empty_masks"), protocol=raw.get("protocol"),
                sources={k: raw[k] for k in SOURCE_KEYS if k in raw})
        except (KeyError, TypeError) as error:
            raise DataError(f"not a dskd evaluation summary ({type(error).__name__}: {error})") from None

    @classmethod
    def read(cls, path: str | Path) -> EvaluationSummary:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error})") from None
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error.strerror})") from None
        if not isinstance(raw, dict):
            raise DataError(f"{path}: not a dskd evaluation summary")
        try:
            return cls.from_dict(raw)
        except DataError as error:
            raise DataError(f"{path}: {error}") from None

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))
