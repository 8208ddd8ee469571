"""dskd: Deep Self-knowledge Distillation for coronary artery segmentation.

The `dskd` command: argument parsing, logging set-up, and user errors as one line + exit 2.
Each group of sub-commands lives in its own file: training_commands (demo, synth, pretrain,
train), evaluation_commands (evaluate, compare, threshold-sweep, ablate), deploy_commands
(predict, export, serve), data_commands (data download, check, export-nnunet).
"""

from __future__ import annotations

import argparse
import logging
import sys

from dskd import __version__
from dskd.cli.data_commands import add_data_commands
from dskd.cli.deploy_commands import add_deploy_commands
from dskd.cli.evaluation_commands import add_evaluation_commands
from dskd.cli.qca_command import add_qca_command
from dskd.cli.training_commands import add_training_commands
from dskd.errors import DskdError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dskd", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dskd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    add_training_commands(sub)
    add_evaluation_commands(sub)
    add_deploy_commands(sub)
    add_qca_command(sub)
    add_data_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DskdError as error:
        print(f"dskd: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dskd: interrupted (a training run resumes with --resume)", file=sys.stderr)
        return 130
