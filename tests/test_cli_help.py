"""First contact: every command-line argument of every command explains itself."""

import argparse

from dskd.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for deeper, subsub in _subcommands(sub):
                    yield f"{name} {deeper}", subsub


def test_every_argument_has_help_text():
    missing = [f"{name} {'/'.join(action.option_strings) or action.dest}"
               for name, sub in _subcommands(build_parser()) for action in sub._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
               and not (action.help or "").strip()]
    assert missing == []
