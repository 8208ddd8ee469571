"""`--qca`: each input's QCA on its frame of best opacification (deploy.qca_writer), and
qca_lesions.csv over the batch."""

from __future__ import annotations

from pathlib import Path

from dskd.deploy.outputs.base import Output, SegmentedFrame, Source
from dskd.deploy.qca_writer import QCASettings, QCAWriter
from dskd.tables import write_csv

__all__ = ["QCAOutput"]


class QCAOutput(Output):
    """The files of deploy.qca_writer per input; `report` is the last input's <name>_qca.json."""

    def __init__(self, settings: QCASettings) -> None:
        self.settings = settings
        self.lesions: list[dict] = []  # every finished input's lesion rows, for qca_lesions.csv
        self.report: Path | None = None
        self.writer: QCAWriter | None = None

    def start(self, source: Source) -> None:
        self.writer = None
        self.writer = QCAWriter(source.base, source.path, self.settings,
                                is_dicom=source.info.kind == "dicom")
        self.report = source.base.with_name(f"{source.base.name}_qca.json")

    def add(self, frame: SegmentedFrame) -> None:
        self.writer.add(frame.index, frame.image, frame.probabilities, frame.mask)

    def finish(self) -> None:
        self.lesions += self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()

    def end_run(self, out_dir: Path) -> None:
        columns = list(self.lesions[0]) if self.lesions else ["file", "frame", "lesion"]
        write_csv(out_dir / "qca_lesions.csv", self.lesions, columns)
