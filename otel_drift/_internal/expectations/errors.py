"""Problems found in an expectations file, and the error that carries them.

The text of :class:`ExpectationsError` is part of the product: it is what a
user reads when their file is wrong, so every problem says where (a path into
the document), what, and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: More than this many problems are not listed: past that point the file is
#: probably not an expectations file at all, and a longer list helps nobody.
MAX_PROBLEMS = 20

#: One step into the document: a mapping key or a list index.
PathPart = str | int
PathParts = tuple[PathPart, ...]

# Keys printed bare after a dot; anything else (http.route, "200", spaces)
# is printed as ["..."] so the path can be read back without ambiguity.
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_path(parts: PathParts) -> str:
    """Render a document path the way problems print it.

    >>> format_path(("expectations", 0, "match", "attributes", "http.route"))
    'expectations[0].match.attributes["http.route"]'
    >>> format_path(())
    ''
    """
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _BARE_KEY.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            out.append('["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]')
    return "".join(out)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an expectations file.

    ``path`` is empty for problems about the file as a whole (unreadable,
    not YAML, ...); ``message`` says what is wrong and ``fix`` what to do.
    """

    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} Fix: {self.fix}"


class ExpectationsError(Exception):
    """An expectations file could not be loaded; ``problems`` says why.

    ``str(error)`` is the full report: the file name, the number of problems,
    then one line per problem.
    """

    def __init__(self, path: str, problems: Sequence[Problem], *, truncated: bool = False) -> None:
        super().__init__(path, list(problems))
        self.path = path
        self.problems: list[Problem] = list(problems[:MAX_PROBLEMS])
        self.truncated = truncated or len(problems) > MAX_PROBLEMS

    def __str__(self) -> str:
        count = len(self.problems)
        if self.truncated:
            header = f"{self.path}: more than {count} problems (the first {count} follow)"
        else:
            header = f"{self.path}: {count} problem{'' if count == 1 else 's'}"
        return "\n".join([header, *(f"  {problem}" for problem in self.problems)])


def single_problem(path: str, message: str, fix: str) -> ExpectationsError:
    """The error for a file that fails as a whole (nothing inside can be checked)."""
    return ExpectationsError(path, [Problem("", message, fix)])


class ProblemList:
    """Collects problems in the order found, without repeats and up to a cap.

    A problem at or inside a path that already has one is dropped: once
    ``baseline`` is reported as malformed, the sum of its fractions is noise.
    Problems about the whole document (empty path) hide nothing.
    """

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self._limit = limit
        self._items: list[tuple[PathParts, Problem]] = []
        self.truncated = False

    def add(self, path: PathParts, message: str, fix: str) -> None:
        for seen_path, seen in self._items:
            if seen_path and path[: len(seen_path)] == seen_path:
                return
            if not seen_path and not path and seen.message == message:
                return
        if len(self._items) >= self._limit:
            self.truncated = True
            return
        self._items.append((path, Problem(format_path(path), message, fix)))

    @property
    def full(self) -> bool:
        """True once the cap is reached, so callers can stop looking."""
        return self.truncated

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def problems(self) -> list[Problem]:
        return [problem for _, problem in self._items]

    def error(self, file_name: str) -> ExpectationsError:
        return ExpectationsError(file_name, self.problems, truncated=self.truncated)
