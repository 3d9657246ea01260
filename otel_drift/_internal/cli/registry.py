"""The table of ``otel-drift`` subcommands and the exit codes they return.

A command module registers itself here with :func:`command` when it is
imported; ``main`` imports every command module and builds the parser from
:data:`COMMANDS`. Command modules import this module, never ``main``, so the
imports point one way.

Exit codes: 0 success, 1 the command found a problem (an invalid file, a
failed gate), 2 a usage error, 3 a gate that cannot decide yet (too little data).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3

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
