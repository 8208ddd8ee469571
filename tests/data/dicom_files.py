"""Writing small DICOM files for tests (pydicom), so no fixture file has to be shipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, XRayAngiographicImageStorage, generate_uid


def write_dicom(path: Path, frames: np.ndarray, *, photometric: str = "MONOCHROME2",
                bits_stored: int | None = None, signed: bool = False, frame_time_ms: float | None = None,
                **attributes) -> Path:
    """frames: (H, W) or (N, H, W) uint8/uint16/int16 -> an XA DICOM file (multi-frame when N > 1).

    attributes: further top-level elements by keyword, e.g. RescaleSlope=2, WindowCenter=50.
    """
    frames = np.asarray(frames)
    bits_allocated = frames.dtype.itemsize * 8
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = XRayAngiographicImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "XA"
    ds.Rows, ds.Columns = frames.shape[-2:]
    if frames.ndim == 3:
        ds.NumberOfFrames = frames.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    if frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    dcmwrite(path, ds, enforce_file_format=True)
    return path
