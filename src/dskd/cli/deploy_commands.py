"""dskd predict, export and serve (docs/inference.md, docs/serve.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dskd.cli.common import set_threads
from dskd.cli.qca_command import add_calibration_options, calibration_from_args
from dskd.errors import DskdError

__all__ = ["add_deploy_commands"]


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from dskd.deploy.outputs import choose_outputs
    from dskd.deploy.predict import predict_files

    if args.threads < 0:
        raise DskdError(f"--threads {args.threads} must be >= 0 (0: the library's default)")
    if args.threads and args.backend == "torch":
        torch.set_num_threads(args.threads)
    qca = None
    if args.dicom_sr:
        args.qca = True  # the report holds the QCA
    if args.qca:
        from dskd.deploy.qca_writer import QCASettings

        calibration, catheter = calibration_from_args(args)
        qca = QCASettings(calibration=calibration, min_stenosis=args.min_stenosis, frame=args.qca_frame,
                          catheter=catheter, dicom_sr=args.dicom_sr,
                          stability_frames=5 if args.qca_stability is None else args.qca_stability)
    elif any(v is not None for v in (args.mm_per_px, args.dicom, args.catheter, args.qca_frame,
                                     args.qca_stability)):
        raise DskdError("the QCA options (--mm-per-px, --dicom, --catheter, --qca-frame, --qca-stability) "
                        "go with --qca")
    outputs = choose_outputs(probabilities=args.probabilities, overlays=not args.no_overlays,
                             video=args.video, dicom_seg=args.dicom_seg, qca=qca)
    report = predict_files(args.checkpoint, args.inputs, args.out, outputs, backend=args.backend,
                           threshold=args.threshold, device=args.device,
                           amp=_PRECISION["bf16" if args.amp else args.precision],
                           channels_last=args.channels_last, threads=args.threads, tta=args.tta,
                           window=args.window, compile=args.compile)
    rate = report.n_frames / max(report.seconds, 1e-9)
    # Frames count what was done, those of a file that failed part-way too (their summary rows stay).
    print(f"{report.n_frames} frames predicted ({rate:.1f} frames/s); outputs of {report.n_files} "
          f"files and summary.csv in {args.out}")
    if report.failures:
        print(f"{len(report.failures)} file(s) failed and were skipped; see {Path(args.out) / 'failed.txt'}",
              file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from dskd.deploy.export import export_onnx

    if args.calibration and not args.int8:
        raise DskdError("--calibration calibrates an int8 model; add --int8")
    out = export_onnx(args.checkpoint, args.out, check=not args.no_check, int8=args.int8,
                      calibration=args.calibration, calibration_frames=args.calibration_frames)
    checked = "" if args.no_check else ", checked against PyTorch at two sizes and batch sizes"
    if args.int8 and not args.no_check:
        checked += "; int8, its masks checked against float32's on the calibration frames"
    print(f"wrote {out} (dynamic batch, height and width; probabilities out{checked})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    try:
        from dskd.deploy.serve.app import run_server
    except ImportError as error:
        raise DskdError(f"dskd serve needs the serve extra ({error.name} is missing): "
                        "pip install 'dskd[serve]'") from None
    from dskd.deploy.serve import ServeSettings

    set_threads(args.threads if args.backend == "torch" else 0)
    settings = ServeSettings(
        model=Path(args.checkpoint), backend=args.backend, device=args.device, threads=args.threads,
        host=args.host, port=args.port, allowed_hosts=tuple(args.allowed_host),
        token=args.token or os.environ.get("DSKD_SERVE_TOKEN") or None,
        max_upload_mb=args.max_upload_mb, max_frames=args.max_frames, max_side=args.max_side,
        max_concurrent=args.max_concurrent, queue=args.queue, timeout_s=args.timeout,
        header_timeout_s=args.header_timeout, compile=args.compile,
        window=args.window or None, evaluation=Path(args.evaluation) if args.evaluation else None)
    run_server(settings)
    return 0


_PRECISION = {"auto": "auto", "float32": False, "bf16": True}  # --precision -> load_net's amp


def add_deploy_commands(sub: argparse._SubParsersAction) -> None:
    _add_predict_command(sub)
    _add_export_and_serve_commands(sub)


def _add_predict_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="masks, overlays, videos for images, DICOM runs, folders, globs")
    p.add_argument("--checkpoint", required=True, action="append",
                   help="a .pt checkpoint, or a .onnx from dskd export; repeat it for an ensemble "
                        "(the mean of the models' probabilities)")
    p.add_argument("inputs", nargs="+",
                   help="PNG/JPEG/TIFF/PGM/PPM/BMP/DICOM files, folders (recursive), globs ('**' recurses)")
    p.add_argument("--out", required=True, help="output folder (created; checked before any work)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="onnxruntime runs a .onnx model on the CPU (default: torch)")
    p.add_argument("--threshold", type=float, default=None,
                   help="override the checkpoint's threshold")
    p.add_argument("--device", default="cpu", help="torch backend: cpu or cuda (default: cpu)")
    p.add_argument("--precision", choices=["auto", "float32", "bf16"], default="auto",
                   help="torch backend: auto (default) computes in bf16 where the CPU has bf16 units "
                        "(AVX512-BF16, AMX) or the GPU supports it, else float32")
    p.add_argument("--amp", action="store_true", help="the same as --precision bf16 (kept for old scripts)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="torch backend: channels-last memory layout (default; 1.5-2x faster on CPUs)")
    p.add_argument("--compile", action="store_true",
                   help="torch backend: run the network through torch.compile (faster per frame, see "
                        "docs/inference.md; compiles on the first frame of each size; needs a C++ "
                        "compiler; default off)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: the library's choice)")
    p.add_argument("--tta", nargs="?", const="flips", default="none",
                   choices=["none", "flips", "dihedral"],
                   help="test-time augmentation: the 4 flips (--tta; 4x slower), or all 8 symmetries")
    p.add_argument("--window", type=int, default=512,
                   help="tile images with a side above this many pixels (default 512; 0: never tile)")
    p.add_argument("--probabilities", action="store_true", help="also write probability maps")
    p.add_argument("--no-overlays", action="store_true", help="no overlay PNGs for single images")
    p.add_argument("--video", choices=["mp4", "gif"], default=None,
                   help="an overlay video per multi-frame input (mp4 needs imageio-ffmpeg)")
    p.add_argument("--dicom-seg", action="store_true",
                   help="DICOM inputs: also the mask as DICOM (SEG for one frame, Secondary Capture "
                        "for a cine; docs/inference.md)")
    p.add_argument("--qca", action="store_true",
                   help="also QCA of each input on its frame of best opacification: segments, lesions "
                        "(%%DS, MLD, length), pictures, and qca_lesions.csv over the batch (docs/qca.md)")
    p.add_argument("--dicom-sr", action="store_true",
                   help="DICOM inputs: the QCA also as a DICOM Structured Report (TID 1500) in the source's "
                        "study (implies --qca; docs/qca.md)")
    p.add_argument("--qca-frame", type=int, default=None, metavar="N",
                   help="with --qca: read frame N (from 1) of every cine instead of choosing one")
    p.add_argument("--qca-stability", type=int, default=None, metavar="N",
                   help="with --qca: follow the lesions of the frame read through N frames on each side "
                        "of a cine (<name>_qca_stability.csv/.png; default 5, 0 for none)")
    p.add_argument("--min-stenosis", type=float, default=50.0,
                   help="with --qca: report lesions of at least this %% diameter stenosis (default 50)")
    add_calibration_options(p, default="a DICOM input's own spacing, else pixels")
    p.set_defaults(func=_cmd_predict)


def _add_export_and_serve_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (dynamic batch, height, width)")
    p.add_argument("checkpoint", help="the checkpoint (.pt) to export")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing ONNX Runtime with PyTorch after export")
    p.add_argument("--int8", action="store_true",
                   help="quantise to int8 in ONNX Runtime (static, calibrated; docs/inference.md)")
    p.add_argument("--calibration", nargs="+", default=None, metavar="PATH",
                   help="--int8: images, DICOM files, folders or globs to calibrate on (default: "
                        "synthetic angiograms; frames like those the model will see are better)")
    p.add_argument("--calibration-frames", type=int, default=16,
                   help="--int8: frames to calibrate on (default 16)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("serve", help="a web page and an HTTP API that segment angiograms (docs/serve.md)")
    p.add_argument("--checkpoint", required=True, help="a .pt checkpoint, or a .onnx from dskd export")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs --token)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name the page may be opened at besides the bound address (e.g. a "
                        "reverse proxy's name); repeatable (default: none)")
    p.add_argument("--token", default=None,
                   help="bearer token every /v1 call must carry (default: $DSKD_SERVE_TOKEN)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="run the model with PyTorch (a .pt checkpoint) or ONNX Runtime (a .onnx export; "
                        "default torch)")
    p.add_argument("--device", default="cpu", help="torch backend: cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: the library's choice)")
    p.add_argument("--window", type=int, default=512,
                   help="tile images with a side above this, as dskd predict (default 512; 0: never)")
    p.add_argument("--max-upload-mb", type=float, default=256.0, help="largest upload (default 256)")
    p.add_argument("--max-frames", type=int, default=500, help="most frames per request (default 500)")
    p.add_argument("--max-side", type=int, default=4096, help="longest image side in pixels (default 4096)")
    p.add_argument("--max-concurrent", type=int, default=1, help="inferences at once (default 1)")
    p.add_argument("--queue", type=int, default=8,
                   help="requests waiting for an inference; beyond them 429 (default 8)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds for a whole request: upload, wait, inference (default 180)")
    p.add_argument("--compile", action="store_true",
                   help="torch backend: run the network through torch.compile (faster per frame, see "
                        "docs/inference.md; compiles at start-up and on each new frame size; default off)")
    p.add_argument("--header-timeout", type=float, default=20.0,
                   help="seconds a connection may take to send its request headers; then it is "
                        "closed (default 20)")
    p.add_argument("--evaluation", default=None, metavar="SUMMARY.json",
                   help="summary.json of dskd evaluate on this model: test figures in the model card")
    p.set_defaults(func=_cmd_serve)
