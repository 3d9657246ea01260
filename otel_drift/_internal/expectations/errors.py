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
    then one line per problem. ``why_refused`` says, when the file was loaded
    to run (not only to check), why it was refused whole rather than with its
    invalid expectations left out; empty otherwise.
    """

    def __init__(
        self,
        path: str,
        problems: Sequence[Problem],
        *,
        truncated: bool = False,
        why_refused: str = "",
    ) -> None:
        super().__init__(path, list(problems))
        self.path = path
        self.problems: list[Problem] = list(problems[:MAX_PROBLEMS])
        self.truncated = truncated or len(problems) > MAX_PROBLEMS
        self.why_refused = why_refused

    def __str__(self) -> str:
        count = len(self.problems)
        if self.truncated:
            header = f"{self.path}: more than {count} problems (the first {count} follow)"
        else:
            header = f"{self.path}: {count} problem{'' if count == 1 else 's'}"
        return "\n".join([header, *(f"  {problem}" for problem in self.problems)])


class FileRefusedError(Exception):
    """The file fails as a whole (unreadable, not YAML, too big): nothing inside is checked.

    Raised by the reading and parsing steps, which do not know the file's
    name; :func:`load_expectations` turns it into an :class:`ExpectationsError`.
    """

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message, fix)
        self.message = message
        self.fix = fix

    def error(self, file_name: str) -> ExpectationsError:
        return ExpectationsError(file_name, [Problem("", self.message, self.fix)])


class ProblemList:
    """Collects problems in the order found, without repeats and up to a cap.

    At most one problem is kept per location. A structural problem (the
    schema's) also hides later ones inside it: once ``baseline`` is reported
    as malformed, the sum of its fractions is noise. Problems about the whole
    document (empty path) hide only exact repeats.
    """

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self._limit = limit
        self._items: list[tuple[PathParts, Problem]] = []
        self._hiding: list[PathParts] = []
        self.truncated = False
        #: Shares accepted with a sum a little off 1: (their path, their sum). The
        #: loader divides them by their sum and says so (``SUM_TOLERANCE``).
        self.rescaled: list[tuple[PathParts, float]] = []

    def add(self, path: PathParts, message: str, fix: str, *, hides_inner: bool = True) -> None:
        """Record a problem; ``hides_inner`` drops later problems inside ``path``."""
        for seen_path, seen in self._items:
            if seen_path == path and (path or seen.message == message):
                return
        if any(path[: len(outer)] == outer for outer in self._hiding):
            return
        if len(self._items) >= self._limit:
            self.truncated = True
            return
        self._items.append((path, Problem(format_path(path), message, fix)))
        if hides_inner and path:
            self._hiding.append(path)

    @property
    def full(self) -> bool:
        """True once a problem past the cap was dropped, so callers can stop looking."""
        return self.truncated

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def problems(self) -> list[Problem]:
        return [problem for _, problem in self._items]

    def located(self) -> list[tuple[PathParts, Problem]]:
        """Each problem with its path as parts (to tell which expectation it is in)."""
        return list(self._items)

    def error(self, file_name: str) -> ExpectationsError:
        return ExpectationsError(file_name, self.problems, truncated=self.truncated)
