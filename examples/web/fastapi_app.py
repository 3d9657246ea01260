"""The FastAPI example service (no OpenTelemetry code): run it under opentelemetry-instrument.

    opentelemetry-instrument uvicorn --app-dir examples/web fastapi_app:app --port 8001

The same routes as the Flask example (``/orders``, ``/search``,
``/profile/{user}``, the last calling upstream with ``httpx``), plus
``/checkout?user=7&rollout=50``, which evaluates the ``new-checkout`` feature
flag through OpenFeature (see ``flags.py``).
"""

from __future__ import annotations

import asyncio
import os

import flags  # type: ignore[import-not-found]  # next to this file, on uvicorn's --app-dir
import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8100")
app = FastAPI()
_client = httpx.AsyncClient(timeout=5)
flags.install()


@app.get("/orders")
async def orders(ms: float = 2.0) -> dict[str, object]:
    await asyncio.sleep(min(ms, 2000.0) / 1000.0)
    return {"orders": [{"id": 1, "total": 12.5}]}


@app.get("/search", response_model=None)
async def search(fail: int = 0) -> dict[str, object] | JSONResponse:
    if fail:
        return JSONResponse({"error": "index unavailable"}, status_code=500)
    return {"results": ["book", "lamp"]}


@app.get("/profile/{user}")
async def profile(user: int, schema: str | None = None) -> dict[str, object]:
    params = {"schema": schema} if schema else None
    answer = await _client.get(f"{UPSTREAM}/users/{user}", params=params)
    data = answer.json()
    return {"user": data.get("id"), "name": data.get("name") or data.get("full_name")}


@app.get("/checkout")
async def checkout(user: int = 1, rollout: int = 50) -> dict[str, object]:
    return {"new_checkout": flags.new_checkout(user, rollout)}
