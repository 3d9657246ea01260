"""The "upstream" API the web examples call: a user profile whose JSON changes.

Plain standard library, no OpenTelemetry: it stands for someone else's
service. ``GET /users/<id>`` answers in one of three schemas:

- ``v1``: ``{id: 7, name: "...", email: "...", tags: [...], address: {city: "..."}}``
- ``v2``: ``name`` renamed to ``full_name`` (a field missing, one added)
- ``v3``: ``id`` sent as a string (a type change)

``?schema=v2`` picks one per request (so a test is deterministic); without
it, ``UPSTREAM_V2_SHARE`` (0 to 1) of the answers are v2: a gradual rollout.

    python examples/web/upstream.py      # port UPSTREAM_PORT, default 8100
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

_USER = re.compile(r"^/users/(\d+)$")


def profile(user: int, schema: str) -> dict[str, object]:
    body: dict[str, object] = {
        "id": user,
        "name": f"user {user}",
        "email": f"user{user}@example.com",
        "tags": ["customer", "eu"],
        "address": {"city": "Lyon", "zip": "69001"},
    }
    if schema == "v2":
        body["full_name"] = body.pop("name")
    elif schema == "v3":
        body["id"] = str(user)
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        match = _USER.match(url.path)
        if match is None:
            self._send(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        schema = query.get("schema", [""])[0]
        if schema not in ("v1", "v2", "v3"):
            share = float(os.environ.get("UPSTREAM_V2_SHARE", "0"))
            schema = "v2" if random.random() < share else "v1"
        self._send(200, profile(int(match.group(1)), schema))

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the example's output


def _exit(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit)
    port = int(os.environ.get("UPSTREAM_PORT", "8100"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
