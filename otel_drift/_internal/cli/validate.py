"""``otel-drift validate``: check expectations files and report every problem.

It loads each file as the SDK would (schema, then the meaning of each
watched value) and prints one line per good file; every problem of a bad one
goes to stderr, and the exit code is 1 when any file was bad.
"""

from __future__ import annotations

import argparse
import sys

from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, command
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="expectations file (YAML or JSON)")


@command("validate", "check expectations files and report every problem", _arguments)
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
