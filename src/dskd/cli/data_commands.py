"""dskd data: download, check and export datasets (data/download.py, readers/, splits.py,
nunet_export.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dskd.errors import DskdError

__all__ = ["add_data_commands"]


def _cmd_data_download(args: argparse.Namespace) -> int:
    from dskd.data.download import download_dataset

    folder = download_dataset(args.dataset, args.dest, url=args.url, sha256=args.sha256,
                              verify=not args.no_verify, force=args.force, timeout=args.timeout)
    print(f"{args.dataset} is ready in {folder}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from dskd.data.cases import load_case
    from dskd.data.readers import read_cases
    from dskd.data.splits import read_split_file, resolve_split

    if args.resolve and not args.split_file:
        raise DskdError("--resolve writes a split file's parts as names; give --split-file too")
    cases = read_cases(args.layout, args.root)
    sizes = set()
    for case in tqdm(cases, desc="check", unit="img", disable=None, leave=False):
        sizes.add(load_case(case).image.shape)  # reads every file: unreadable ones fail here
    labelled = sum(c.mask is not None for c in cases)
    with_fov = sum(c.fov is not None for c in cases)
    shapes = ", ".join(f"{w}x{h}" for h, w in sorted(sizes))
    print(f"{len(cases)} cases ({labelled} labelled, {with_fov} with a field of view), sizes {shapes}")
    if args.split_file:
        parts = resolve_split(cases, read_split_file(args.split_file))
        print(", ".join(f"{part}: {len(names)}" for part, names in parts.items()))
        if args.resolve:
            Path(args.resolve).write_text(json.dumps(parts, indent=1) + "\n")
            print(f"wrote the split as case names to {args.resolve}")
    return 0


def _cmd_data_export_nnunet(args: argparse.Namespace) -> int:
    from dskd.data.nnunet_export import export_nnunet

    result = export_nnunet(args.layout, args.root, args.out, dataset_id=args.dataset_id,
                           split_file=args.split_file, name=args.name)
    print(f"wrote {result.folder}: {result.n_training} training cases, {result.n_test} test cases")
    return 0


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="download and check datasets").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("download", help="download, verify and unpack a dataset's official archive")
    p.add_argument("dataset", help="dca1 (xcad: prints how to obtain it)")
    p.add_argument("--dest", required=True, help="folder to unpack into")
    p.add_argument("--url", default=None, help="archive URL (default: the best-known official one)")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (default: known one)")
    p.add_argument("--no-verify", action="store_true", help="skip the checksum (zip still checked)")
    p.add_argument("--force", action="store_true", help="download and unpack again")
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    p.set_defaults(func=_cmd_data_download)
    p = data.add_parser("check", help="read every case of a dataset and apply a split file")
    p.add_argument("root", help="dataset folder")
    p.add_argument("--layout", default="folder", help="dataset layout (docs/datasets.md)")
    p.add_argument("--split-file", default=None, help="JSON split file to apply")
    p.add_argument("--resolve", default=None, metavar="OUT.json",
                   help="write the split with every part as case names")
    p.set_defaults(func=_cmd_data_check)
    p = data.add_parser("export-nnunet", help="write a dataset and its split as an nnU-Net v2 raw dataset")
    p.add_argument("--layout", default="folder", help="dataset layout (docs/datasets.md)")
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--split-file", default=None,
                   help="train + val -> imagesTr (and splits_final.json), test -> imagesTs")
    p.add_argument("--dataset-id", type=int, required=True, help="nnU-Net dataset id, 1..999")
    p.add_argument("--name", default=None, help="dataset name (default: the layout's name)")
    p.add_argument("--out", required=True, help="folder to write Dataset<NNN>_<name>/ into (nnUNet_raw)")
    p.set_defaults(func=_cmd_data_export_nnunet)
