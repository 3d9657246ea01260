"""The ``otel-drift`` command: the parser built from the registered commands, and the run.

Each subcommand is a module that registers itself in
:data:`~otel_drift._internal.cli.registry.COMMANDS` when imported; this
module imports them all, so adding a command is a new module plus one import
line here. Heavy libraries (pandas, pyarrow, a model's own) are imported
inside the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from otel_drift._internal.cli.registry import COMMANDS, EXIT_USAGE

# The command modules, imported for their registration, in the order --help lists them.
# isort: off
from otel_drift._internal.cli import validate  # noqa: F401
from otel_drift._internal.cli.baseline import command as baseline  # noqa: F401
from otel_drift._internal.cli import rules  # noqa: F401
from otel_drift._internal.cli import dashboard  # noqa: F401
from otel_drift._internal.cli import gate  # noqa: F401
from otel_drift._internal.cli import summary  # noqa: F401
from otel_drift._internal.cli.report import command as report  # noqa: F401
from otel_drift._internal.cli import shape  # noqa: F401

# isort: on


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-drift",
        description="Drift detection for OpenTelemetry: tools for expectations files.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        sub = subparsers.add_parser(name, help=spec.summary, description=spec.summary)
        spec.configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits on --help (0) and on usage errors (2); as a function
        # main returns the code instead, so callers and tests can see it.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if arguments.command is None:
        parser.print_usage(sys.stderr)
        print("otel-drift: error: a command is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[arguments.command].run(arguments)
    except BrokenPipeError:
        # The reader went away (``otel-drift report | head``): not an error of
        # ours. Point stdout at devnull so the interpreter's final flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
