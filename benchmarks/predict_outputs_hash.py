"""SHA-256 of every file `dskd predict` writes for a fixed set of inputs: the proof that a redesign
of predict's outputs changed none of them (issue 33).

Inputs (made here, seeded): a synthetic angiogram (PNG), a synthetic cine (16-bit TIFF), and the
same frame and cine as XA DICOM files with a pixel spacing; the model is a seeded untrained U-Net
(tests/model_files.py). Three runs of `dskd predict`, float32, one thread:

    all       --probabilities --video gif --dicom-seg --qca --dicom-sr
    default   (the overlays)
    mp4       --no-overlays --video mp4

Files are hashed as bytes, except what changes from run to run by design: DICOM objects are hashed
without their UIDs, dates and times (new at every write), and summary.csv without its timing
column. Run it before and after a change and compare the JSON files:

    python benchmarks/predict_outputs_hash.py --work /tmp/po --json before.json
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUNS = {
    "all": ["--probabilities", "--video", "gif", "--dicom-seg", "--qca", "--dicom-sr"],
    "default": [],
    "mp4": ["--no-overlays", "--video", "mp4"],
}
_CHANGING_VRS = {"UI", "DA", "TM", "DT"}  # new UIDs and the time of writing, at every run


def make_inputs(folder: Path) -> list[Path]:
    from dskd.data.io import write_png
    from dskd.data.synthetic import synth_angiogram
    from dskd.data.synthetic.cine import synth_cine
    from tests.data.dicom_files import write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    image, _ = synth_angiogram(np.random.default_rng(1), 128)
    cine = synth_cine(np.random.default_rng(2), 12, 128, None).frames
    import tifffile

    write_png(folder / "frame.png", (image * 255 + 0.5).astype(np.uint8))
    tifffile.imwrite(folder / "run.tif", (cine * 65535).astype(np.uint16), photometric="minisblack")
    write_dicom(folder / "xa_frame.dcm", (image * 65535).astype(np.uint16), PixelSpacing=[0.3, 0.3],
                PatientID="P1", StudyInstanceUID="1.2.3.4", SeriesInstanceUID="1.2.3.4.5")
    write_dicom(folder / "xa_run.dcm", (cine * 65535).astype(np.uint16), PixelSpacing=[0.3, 0.3],
                frame_time_ms=66.7, PatientID="P1", StudyInstanceUID="1.2.3.4",
                SeriesInstanceUID="1.2.3.4.6")
    return sorted(p for p in folder.iterdir() if p.is_file())


def _dataset_digest(dataset, digest) -> None:  # noqa: ANN001 (a pydicom Dataset)
    for element in sorted(dataset, key=lambda e: e.tag):
        if element.VR in _CHANGING_VRS:
            continue
        digest.update(f"{element.tag}{element.VR}".encode())
        if element.VR == "SQ":
            for item in element.value:
                _dataset_digest(item, digest)
        elif isinstance(element.value, bytes):
            digest.update(element.value)
        else:
            digest.update(repr(element.value).encode())


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    if path.suffix == ".dcm":
        import pydicom

        _dataset_digest(pydicom.dcmread(path), digest)
    elif path.name == "summary.csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        digest.update(json.dumps([{k: v for k, v in r.items() if k != "ms_per_frame"} for r in rows])
                      .encode())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder (emptied first)")
    parser.add_argument("--json", type=Path, default=None, help="write {run/file: sha256} here")
    args = parser.parse_args(argv)
    import torch

    from dskd.cli import main as dskd
    from tests.model_files import write_random_checkpoint

    torch.set_num_threads(1)
    shutil.rmtree(args.work, ignore_errors=True)
    inputs = make_inputs(args.work / "inputs")
    model = write_random_checkpoint(args.work / "model.pt", depth=2, width=4)
    hashes = {}
    for name, options in RUNS.items():
        out = args.work / name
        code = dskd(["predict", "--checkpoint", str(model), *map(str, inputs), "--out", str(out),
                     "--threshold", "0.5", "--precision", "float32", *options])
        if code != 0:
            raise SystemExit(f"dskd predict ({name}) exited {code}")
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            hashes[f"{name}/{path.relative_to(out)}"] = file_hash(path)
    for key, value in hashes.items():
        print(f"{value[:16]}  {key}")
    print(f"{len(hashes)} files")
    if args.json is not None:
        args.json.write_text(json.dumps(hashes, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
