"""Command lines whose shared options go before or after the sub-command, the same way in every CLI.

    cli = CommandLine("python -m knowledge", "Command line for the knowledge base.", [
        option("--store", type=Path, help="Chroma folder"),
        option("--collection", help="collection name"),
    ])
    ingest = cli.add_parser("ingest", help="add, update and remove documents")
    ingest.add_argument("paths", nargs="*")
    args = cli.parse_args(argv)   # `--store DIR ingest` and `ingest --store DIR` both set args.store

A shared option is added to the top-level parser, with its default, and to every sub-parser (through
`parents=`) with `default=argparse.SUPPRESS`, so a sub-parser never overwrites a value given before the
sub-command with its default. Given on both sides, the one after the sub-command wins. The chosen
sub-command is `args.command`.

This module is used by the CLIs of `knowledge`, `tools` and `agent`, so it imports none of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn


@dataclass(frozen=True)
class Option:
    """One option every sub-command shares: the arguments of `ArgumentParser.add_argument`."""

    flags: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)


def option(*flags: str, **settings: Any) -> Option:
    """`option("--store", type=Path, help=...)`: spelled like `add_argument`."""
    return Option(flags, settings)


class CommandLine:
    """A parser with sub-commands; the `shared` options are accepted before and after the sub-command."""

    def __init__(self, prog: str, description: str | None, shared: Sequence[Option] = ()) -> None:
        self.parser = argparse.ArgumentParser(prog=prog, description=description)
        self._shared = argparse.ArgumentParser(add_help=False)
        for opt in shared:
            self.parser.add_argument(*opt.flags, **opt.settings)
            self._shared.add_argument(*opt.flags, **{**opt.settings, "default": argparse.SUPPRESS})
        self._commands = self.parser.add_subparsers(dest="command", required=True)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A sub-command (keywords as for `add_subparsers().add_parser`), taking the shared options too."""
        return self._commands.add_parser(name, parents=[self._shared], **kwargs)

    def set_defaults(self, **defaults: Any) -> None:
        """Defaults of the whole command line (not options of it)."""
        self.parser.set_defaults(**defaults)

    def parse_args(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        return self.parser.parse_args(argv)

    def error(self, message: str) -> NoReturn:
        """A usage mistake found after parsing: usage and message on stderr, exit status 2."""
        self.parser.error(message)
