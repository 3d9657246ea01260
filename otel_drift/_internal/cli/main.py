"""The ``otel-drift`` command.

Subcommands live in :data:`COMMANDS`; adding one is a :func:`command`
decorated function taking the parsed arguments, plus a function that
declares its arguments. Exit codes: 0 success, 1 the command found a
problem (an invalid file), 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Run = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    summary: str
    configure: Configure
    run: Run


#: Subcommands by name, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {}


def command(name: str, summary: str, configure: Configure) -> Callable[[Run], Run]:
    """Register the decorated function as the subcommand ``name``."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(summary, configure, run)
        return run

    return register


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="expectations file (YAML or JSON)")


@command("validate", "check expectations files and report every problem", _validate_arguments)
def validate(arguments: argparse.Namespace) -> int:
    status = EXIT_OK
    for name in arguments.files:
        try:
            loaded = load_expectations(name)
        except ExpectationsError as error:
            print(error, file=sys.stderr)
            status = EXIT_FAILED
            continue
        expectations = len(loaded.expectations)
        watched = sum(len(expectation.watch) for expectation in loaded.expectations)
        print(
            f"{name}: ok ({expectations} expectation{'' if expectations == 1 else 's'}, "
            f"{watched} watched value{'' if watched == 1 else 's'})"
        )
    return status


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
    # Subcommands in other modules register themselves on import.
    import otel_drift._internal.cli.baseline.command  # noqa: PLC0415
    import otel_drift._internal.cli.dashboard  # noqa: PLC0415
    import otel_drift._internal.cli.gate  # noqa: PLC0415
    import otel_drift._internal.cli.report.command  # noqa: PLC0415
    import otel_drift._internal.cli.rules  # noqa: PLC0415
    import otel_drift._internal.cli.shape  # noqa: PLC0415
    import otel_drift._internal.cli.summary  # noqa: F401, PLC0415

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
    return COMMANDS[arguments.command].run(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
