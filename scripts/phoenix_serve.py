"""Runs Arize Phoenix on loopback only (run with the .venv-phoenix interpreter).

Phoenix binds its HTTP server to PHOENIX_HOST, but its OTLP gRPC receiver to
every address ("[::]:PORT", hard-coded). The test machines must listen on
127.0.0.1 only, so the gRPC server's bind address is rewritten before Phoenix
starts. Usage: python scripts/phoenix_serve.py  (configured by PHOENIX_* env).
"""

from __future__ import annotations

import runpy
import sys
from typing import Any

from grpc.aio import _server  # type: ignore[import-not-found,unused-ignore]


def _loopback(address: str) -> str:
    return address.replace("[::]", "127.0.0.1").replace("0.0.0.0", "127.0.0.1")


_insecure = _server.Server.add_insecure_port
_secure = _server.Server.add_secure_port


def _add_insecure_port(self: Any, address: str) -> int:
    return int(_insecure(self, _loopback(address)))


def _add_secure_port(self: Any, address: str, credentials: Any) -> int:
    return int(_secure(self, _loopback(address), credentials))


_server.Server.add_insecure_port = _add_insecure_port
_server.Server.add_secure_port = _add_secure_port

if __name__ == "__main__":
    sys.argv = ["phoenix", "serve"]
    runpy.run_module("phoenix.server.main", run_name="__main__", alter_sys=True)
