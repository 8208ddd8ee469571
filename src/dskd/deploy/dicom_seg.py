"""DICOM outputs of `dskd predict --dicom-seg`: the vessel mask as a DICOM object in the source's
study, so a PACS or viewer shows it beside the angiogram it was made from.

- A single-frame DICOM image gets `<name>_seg.dcm`: a DICOM Segmentation (highdicom), BINARY, one
  segment "coronary artery" (SCT 41801008, category Anatomical Structure), algorithm type
  AUTOMATIC, referencing the source SOP instance.
- A multi-frame XA/XRF cine gets `<name>_mask.dcm`: a Multi-frame Single Bit Secondary Capture
  image (SOP class 1.2.840.10008.5.1.4.1.1.7.1), frame k the mask of source frame k, with the
  source in its Source Image Sequence. Why not a SEG: a Segmentation of a multi-frame image has to
  place each of its frames in the source's Frame of Reference, and XA cines have none (the Frame of
  Reference module is not part of the XA IOD); highdicom therefore refuses it ("Only a single frame
  is supported when the source image has no Frame of Reference UID"). A single-bit Secondary
  Capture is the object the standard offers for a binary image derived from another without
  that geometry; it keeps the frames 1:1 with the cine.

Both copy the patient and study of the source (the Secondary Capture also its PixelSpacing, when
it has one) and are written under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dskd import __version__
from dskd.errors import DataError
from dskd.writing import atomic_path

__all__ = ["DicomMaskWriter", "SEG_SUFFIX", "SECONDARY_CAPTURE_SUFFIX",
           "MULTIFRAME_SINGLE_BIT_SC", "PATIENT_STUDY", "read_source_header"]

SEG_SUFFIX = "_seg.dcm"
SECONDARY_CAPTURE_SUFFIX = "_mask.dcm"
MULTIFRAME_SINGLE_BIT_SC = "1.2.840.10008.5.1.4.1.1.7.1"
_SERIES_NUMBER = 9901  # a number the scanner's own series are unlikely to use
_REQUIRED = ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID")
# Patient and General Study attributes of Type 2: copied from the source, empty where it lacks them.
PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                  "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


def read_source_header(source: Path, *, what: str = "a DICOM mask", option: str = "--dicom-seg") -> Any:
    """The source's header; DataError when it cannot be referenced (no study or instance UID)."""
    import pydicom

    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True)
    except Exception as error:  # damaged files: many exception types
        raise DataError(f"{source}: not a readable DICOM file ({error})") from None
    missing = [key for key in _REQUIRED if key not in ds]
    if missing:
        raise DataError(f"{source}: no {missing[0]}; {what} must reference its source's "
                        f"study and instance, so {option} needs them")
    return ds


@contextlib.contextmanager
def _single_frame_as_single_frame() -> Iterator[None]:
    """highdicom (0.22-0.28) takes every image of an IOD that allows several frames (XA, XRF, US)
    for an enhanced multi-frame image with functional groups, and fails on a single-frame XA
    image, which has neither NumberOfFrames nor functional groups. For the duration, an image
    counts as multi-frame only when it states NumberOfFrames, which is what the standard says."""
    import highdicom.image

    original = getattr(highdicom.image, "is_multiframe_image", None)
    if original is None:  # a later highdicom reorganised: trust it
        yield
        return
    highdicom.image.is_multiframe_image = lambda ds: "NumberOfFrames" in ds and original(ds)
    try:
        yield
    finally:
        highdicom.image.is_multiframe_image = original


class DicomMaskWriter:
    """Collects the masks of one DICOM input, frame by frame, and writes its DICOM mask object.

    Frames are kept bit-packed (a 512x512 frame takes 32 KiB), so a long cine costs little.
    """

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self.header = read_source_header(self.source)
        self.n_frames = int(self.header.get("NumberOfFrames", 1) or 1)
        self.shape = (int(self.header.Rows), int(self.header.Columns))
        self.frames: list[np.ndarray] = []  # bool (H, W) for a single frame, else packed bits
        self._bits = np.zeros(0, dtype=bool)  # a cine's bits not yet packed into whole bytes

    def add(self, mask: np.ndarray) -> None:
        """mask: bool (H, W), the next frame's."""
        if mask.shape != self.shape:
            raise DataError(f"{self.source}: mask {mask.shape} does not match the image {self.shape}")
        if self.n_frames == 1:
            self.frames.append(mask.astype(bool))
            return
        # Single-bit frames run on without padding (PS3.5 8.1.1): pack the stream, not each frame.
        bits = np.concatenate([self._bits, mask.astype(bool).ravel()])
        whole = bits.size - bits.size % 8
        self.frames.append(np.packbits(bits[:whole], bitorder="little"))
        self._bits = bits[whole:]

    def write(self, base: Path) -> Path:
        """Write `<base>_seg.dcm` (one frame) or `<base>_mask.dcm` (a cine); returns its path."""
        count = len(self.frames)
        if count != self.n_frames:
            raise DataError(f"{self.source}: {count} mask frames for {self.n_frames} image frames")
        if self.n_frames == 1:
            dataset, path = self._segmentation(), base.with_name(base.name + SEG_SUFFIX)
        else:
            dataset, path = self._secondary_capture(), base.with_name(base.name + SECONDARY_CAPTURE_SUFFIX)
        with atomic_path(path) as tmp:
            dataset.save_as(tmp, enforce_file_format=True)
        return path

    def _segmentation(self) -> Any:
        import highdicom as hd
        from pydicom.sr.codedict import codes
        from pydicom.uid import generate_uid

        source = copy.deepcopy(self.header)
        for key in PATIENT_STUDY:  # type 2 in the source IODs: may be absent in practice, empty here
            if key not in source:
                setattr(source, key, "")
        segment = hd.seg.SegmentDescription(
            segment_number=1, segment_label="coronary artery",
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=codes.SCT.CoronaryArtery,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="dskd", version=__version__, family=codes.cid7162.ArtificialIntelligence))
        try:
            with _single_frame_as_single_frame():
                seg = hd.seg.Segmentation(
                    source_images=[source], pixel_array=self.frames[0][None],
                    segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                    segment_descriptions=[segment], series_instance_uid=generate_uid(),
                    series_number=_SERIES_NUMBER, sop_instance_uid=generate_uid(),
                    instance_number=1, manufacturer="dskd", manufacturer_model_name="dskd",
                    software_versions=__version__, device_serial_number="0",
                    series_description="dskd vessel segmentation")
        except (ValueError, TypeError, AttributeError) as error:
            raise DataError(f"{self.source}: highdicom cannot make a Segmentation of it ({error})") from None
        if "PatientOrientation" not in seg:  # General Image, Type 2C: the source's, empty if none
            seg.PatientOrientation = self.header.get("PatientOrientation", "")
        return seg

    def _secondary_capture(self) -> Any:
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.sequence import Sequence
        from pydicom.uid import ExplicitVRLittleEndian, generate_uid

        src = self.header
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MULTIFRAME_SINGLE_BIT_SC
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = MULTIFRAME_SINGLE_BIT_SC, ds.file_meta.MediaStorageSOPInstanceUID
        ds.SpecificCharacterSet = src.get("SpecificCharacterSet", "ISO_IR 100")
        ds.StudyInstanceUID = src.StudyInstanceUID
        for key in PATIENT_STUDY:  # type 2 in Patient and General Study: present, maybe empty
            setattr(ds, key, src.get(key, ""))
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "OT", generate_uid(), _SERIES_NUMBER
        # Type 2C in General Series and General Image: the source's values, empty when it has none.
        ds.Laterality = src.get("Laterality", "")
        ds.PatientOrientation = src.get("PatientOrientation", "")
        ds.SeriesDescription = "dskd vessel masks"
        ds.Manufacturer, ds.SoftwareVersions = "dskd", __version__
        ds.ConversionType = "WSD"  # SC Equipment: made on a workstation
        ds.InstanceNumber, ds.ImageType = 1, ["DERIVED", "SECONDARY"]
        ds.BurnedInAnnotation = "NO"
        ds.DerivationDescription = ("dskd vessel segmentation: frame k is the binary mask of "
                                    "frame k of the source")
        reference = Dataset()
        reference.ReferencedSOPClassUID = src.SOPClassUID
        reference.ReferencedSOPInstanceUID = src.SOPInstanceUID
        ds.SourceImageSequence = Sequence([reference])
        ds.ReferencedImageSequence = Sequence([copy.deepcopy(reference)])
        ds.Rows, ds.Columns = self.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
        ds.NumberOfFrames = self.n_frames
        if "FrameTime" in src:
            ds.FrameTime, ds.FrameIncrementPointer = src.FrameTime, 0x00181063
        else:
            ds.PageNumberVector = list(range(1, self.n_frames + 1))
            ds.FrameIncrementPointer = 0x00182001
        for key in ("PixelSpacing", "PixelSpacingCalibrationType"):
            if key in src:
                setattr(ds, key, src[key].value)
        data = b"".join(f.tobytes() for f in self.frames)
        if self._bits.size:
            data += np.packbits(self._bits, bitorder="little").tobytes()
        ds.PixelData = data + (b"\0" if len(data) % 2 else b"")  # even length (PS3.5 8.1.1)
        return ds
