"""`--dicom-seg`: each DICOM input's mask as a DICOM object in its study (deploy.dicom_seg)."""

from __future__ import annotations

import logging

from dskd.deploy.dicom_seg import DicomMaskWriter
from dskd.deploy.outputs.base import Output, SegmentedFrame, Source

__all__ = ["DicomMaskOutput"]

log = logging.getLogger(__name__)


class DicomMaskOutput(Output):
    """<name>_seg.dcm for a single frame, <name>_mask.dcm for a cine; other inputs get none (said
    in the log). The object is written whole at the end (atomically), so abort has nothing to
    remove."""

    def start(self, source: Source) -> None:
        self.source, self.writer = source, None
        if source.info.kind != "dicom":
            log.info("%s: not a DICOM file, so no DICOM mask (--dicom-seg)", source.path)
            return
        self.writer = DicomMaskWriter(source.path)

    def add(self, frame: SegmentedFrame) -> None:
        if self.writer is not None:
            self.writer.add(frame.mask)

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.write(self.source.base)
