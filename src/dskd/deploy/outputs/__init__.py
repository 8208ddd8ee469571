"""The outputs of `dskd predict` and `dskd serve`, one class each behind one interface (base.py):

    images.py  MaskOutput, ProbabilityOutput, OverlayOutput   (PNG per image, TIFF pages per cine)
    video.py   VideoOutput                                    (a cine's overlay, MP4 or GIF)
    dicom.py   DicomMaskOutput                                (--dicom-seg)
    qca.py     QCAOutput                                      (--qca, --dicom-sr)

`choose_outputs` turns the options of the command line (and of a request) into that list, and
`write_input` feeds one input's frames to them. A new output is one class and one line in
choose_outputs.
"""

from dskd.deploy.outputs.base import FileParts, Output, SegmentedFrame, Source
from dskd.deploy.outputs.choice import choose_outputs, write_input
from dskd.deploy.outputs.video import VIDEO_FORMATS, VideoFormat, check_video_support

__all__ = ["FileParts", "Output", "SegmentedFrame", "Source", "choose_outputs", "write_input",
           "VIDEO_FORMATS", "VideoFormat", "check_video_support"]
