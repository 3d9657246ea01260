"""A small closed-loop HTTP/1.1 load generator for 127.0.0.1 only.

Each client thread keeps one connection alive and sends the next request as
soon as the previous response is complete, until the run's bounded request
count is used up. Requests are prebuilt bytes and responses are framed by
Content-Length only, so the client spends a few tens of microseconds per
request: little next to an instrumented Python server, which matters on a
2-core machine where client and server share the CPU.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunResult:
    requests: int
    seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


class _Connection:
    def __init__(self, port: int) -> None:
        self._port = port
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((LOOPBACK, self._port), timeout=30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._buffer = b""
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(self, payload: bytes) -> int:
        """Send one request, read the whole response; returns the status code."""
        sock = self._socket()
        sock.sendall(payload)
        while b"\r\n\r\n" not in self._buffer:
            self._receive(sock)
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"connection" and value.strip().lower() == b"close":
                close = True
            elif lowered == b"transfer-encoding":
                raise LoadError("chunked responses are not supported by this client")
        while len(rest) < length:
            rest += sock.recv(65536) or self._eof()
        self._buffer = rest[length:]
        if close:
            self.close()
        return status

    def _receive(self, sock: socket.socket) -> None:
        self._buffer += sock.recv(65536) or self._eof()

    def _eof(self) -> bytes:
        self.close()
        raise LoadError("server closed the connection mid-response")


def request_bytes(path: str, port: int) -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nUser-Agent: otel-drift-bench"
    return f"{head}\r\n\r\n".encode()


def run(port: int, path: str, requests: int, connections: int) -> RunResult:
    """Send ``requests`` GETs over ``connections`` keep-alive connections; time the whole."""
    payload = request_bytes(path, port)
    counter = itertools.count()
    errors = [0] * connections
    failures: list[BaseException] = []
    start_barrier = threading.Barrier(connections + 1)

    def client(slot: int) -> None:
        connection = _Connection(port)
        try:
            connection._socket()  # connect before the clock starts
            start_barrier.wait()
            while next(counter) < requests:
                try:
                    status = connection.request(payload)
                except (OSError, LoadError):
                    connection.close()
                    errors[slot] += 1
                    continue
                if status != 200:
                    errors[slot] += 1
        except BaseException as error:  # reported by the caller's thread
            failures.append(error)
            start_barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    # A client that could not connect breaks the barrier; its error is raised below.
    with contextlib.suppress(threading.BrokenBarrierError):
        start_barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if failures:
        raise LoadError(f"client failed: {failures[0]!r}") from failures[0]
    return RunResult(requests, seconds, sum(errors))


def run_together(
    ports: Sequence[int], path: str, seconds: float, connections: int
) -> list[RunResult]:
    """Load every server of ``ports`` at once, ``connections`` each, for ``seconds``.

    All clients start together and stop at the same deadline, so that servers
    compared with each other share the machine's conditions to the millisecond.
    Returns, per port, the requests completed (not counting errors' retries).
    """
    payloads = [request_bytes(path, port) for port in ports]
    slots = len(ports) * connections
    done = [0] * slots
    errors = [0] * slots
    failures: list[BaseException] = []
    deadline = [0.0]

    def set_deadline() -> None:  # run once, when every client has connected
        deadline[0] = time.perf_counter() + seconds

    start_barrier = threading.Barrier(slots + 1, action=set_deadline)

    def client(slot: int) -> None:
        target = slot % len(ports)
        connection = _Connection(ports[target])
        payload = payloads[target]
        try:
            connection._socket()  # connect before the clock starts
            start_barrier.wait()
            stop_at = deadline[0]
            while time.perf_counter() < stop_at:
                try:
                    status = connection.request(payload)
                except (OSError, LoadError):
                    connection.close()
                    errors[slot] += 1
                    continue
                if status == 200:
                    done[slot] += 1
                else:
                    errors[slot] += 1
        except BaseException as error:  # reported by the caller's thread
            failures.append(error)
            start_barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(slots)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start_barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise LoadError(f"client failed: {failures[0]!r}") from failures[0]
    return [
        RunResult(sum(done[target :: len(ports)]), elapsed, sum(errors[target :: len(ports)]))
        for target in range(len(ports))
    ]


def wait_until_serving(port: int, path: str, timeout_s: float = 60.0) -> None:
    """Poll until ``path`` answers 200, or raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    payload = request_bytes(path, port)
    while True:
        connection = _Connection(port)
        try:
            if connection.request(payload) == 200:
                return
        except (OSError, LoadError, ValueError, IndexError):
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise LoadError(f"nothing served {path} on {LOOPBACK}:{port} in {timeout_s:g} s")
        time.sleep(0.1)
