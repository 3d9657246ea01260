"""Reading an expectations file from disk, refusing what cannot be one.

The file is named by configuration, so it may be anything: a directory, a
FIFO that would block forever, a multi-gigabyte log. Each case fails fast
with a message that says what the path is and what to do.
"""

from __future__ import annotations

import codecs
import os
import stat

from otel_drift._internal.expectations.errors import FileRefusedError

#: Largest file read. Expectations files are a few KB; this only stops a
#: wrong path (a log, a dump) from being read into memory.
MAX_FILE_BYTES = 10 * 1024 * 1024

# O_NONBLOCK makes opening a FIFO return at once instead of waiting for a
# writer; it has no effect on regular files. Windows has neither flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_text(path: str) -> str:
    """The text of the file at ``path``; raises :class:`FileRefusedError` when it cannot be used."""
    data = _read_bytes(path)
    return decode_utf8(data)


def _read_bytes(path: str) -> bytes:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise FileRefusedError(
            "the file does not exist.",
            f"check the path (a relative path starts from {os.getcwd()}).",
        ) from None
    except NotADirectoryError:
        raise FileRefusedError(
            "a part of the path is a file, not a directory.",
            "check the path; only its last part names a file.",
        ) from None
    except IsADirectoryError:
        raise _directory() from None
    except PermissionError:
        raise FileRefusedError(
            "the file cannot be read: permission denied.",
            "make it readable by the user this process runs as.",
        ) from None
    except OSError as error:
        raise FileRefusedError(
            f"the file cannot be opened: {error.strerror or error}.",
            "check the path and the file.",
        ) from None
    try:
        # Checked on the open descriptor, not the path, so the file cannot be
        # swapped between the check and the read.
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _directory()
        if not stat.S_ISREG(info.st_mode):
            raise FileRefusedError(
                "this is not a regular file (it is a pipe, socket or device).",
                "point to a YAML or JSON file on disk.",
            )
        if info.st_size > MAX_FILE_BYTES:
            raise _too_big(info.st_size)
        data = _read_at_most(fd, MAX_FILE_BYTES + 1)
    except OSError as error:
        raise FileRefusedError(
            f"the file cannot be read: {error.strerror or error}.",
            "check the file and the disk.",
        ) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:  # it grew after the size check
        raise _too_big(len(data))
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _directory() -> FileRefusedError:
    return FileRefusedError(
        "this is a directory, not a file.",
        "name the expectations file itself (for example dir/expectations.yaml).",
    )


def _too_big(size: int) -> FileRefusedError:
    return FileRefusedError(
        f"the file is {size / (1024 * 1024):.1f} MB; expectations files are limited to "
        f"{MAX_FILE_BYTES // (1024 * 1024)} MB.",
        "check that the path names the expectations file (they are usually a few KB).",
    )


def decode_utf8(data: bytes) -> str:
    r"""UTF-8 text (a leading BOM is dropped); non-UTF-8 bytes are refused with their place.

    >>> try:
    ...     decode_utf8(b"version: 1\nname: caf\xe9")
    ... except FileRefusedError as refusal:
    ...     print(refusal.message)
    the file is not UTF-8: byte 0xe9 at line 2, column 10 (byte offset 20) cannot be decoded.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        hint = ""
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            hint = " (it looks like UTF-16)"
        raise FileRefusedError(
            f"the file is not UTF-8{hint}: byte 0x{data[start]:02x} at line {line}, "
            f"column {column} (byte offset {start}) cannot be decoded.",
            "save the file as UTF-8.",
        ) from None
