"""TEST-ONLY server: speaks the OpenAI streaming protocol with no model behind it.

It streams a fixed token sequence, or misbehaves on purpose, so the benchmark client can be
checked where a real server cannot be made to fail on demand, and so the client's own overhead
can be measured against a server whose time is known. Never part of the product.

The `model` field picks the behaviour:
    fixed        N fixed tokens (`max_tokens`), `first_token_ms` before the first and
                 `token_ms` between the others, then [DONE]
    stall        sleeps 30 s before answering (a timeout for any client limit below that)
    cut          two tokens, then the connection is dropped mid-stream (no [DONE])
    short        two tokens, then a clean end of stream without [DONE]
    garbage      one token, then an event whose data is not JSON
    fail500      HTTP 500 with an OpenAI error body
    reject400    HTTP 400 with an OpenAI error body

Server-side TTFT (request handed to the app -> first token written) of every `fixed` request
is kept in `server_ttft_s`, and served at `GET /server-ttft` for an out-of-process server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

TOKEN = "tok"


def make_app(first_token_ms: float = 0.0, token_ms: float = 0.0
             ) -> tuple[Starlette, list[float]]:
    """The app and the list its `fixed` requests append their server-side TTFT (s) to."""
    server_ttft_s: list[float] = []

    def event(text: str, model: str) -> bytes:
        body = {"id": "x", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        return f"data: {json.dumps(body)}\n\n".encode()

    async def chat(request: Request) -> Response:
        arrived = time.perf_counter()
        body = await request.json()
        mode, n = body.get("model"), int(body.get("max_tokens", 16))
        if mode == "fail500":
            return JSONResponse({"error": {"message": "test server failure"}}, status_code=500)
        if mode == "reject400":
            return JSONResponse({"error": {"message": "test server rejects this"}},
                                status_code=400)
        if mode == "stall":
            await asyncio.sleep(30)

        async def stream() -> Any:
            if mode == "fixed":
                await asyncio.sleep(first_token_ms / 1000)
                for i in range(n):
                    if i == 0:
                        chunk = event(TOKEN, "fixed")
                        server_ttft_s.append(time.perf_counter() - arrived)
                        yield chunk
                    else:
                        if token_ms:
                            await asyncio.sleep(token_ms / 1000)
                        yield event(TOKEN, "fixed")
                usage = {"choices": [], "model": "fixed", "usage": {
                    "prompt_tokens": 4, "completion_tokens": n, "total_tokens": n + 4}}
                yield f"data: {json.dumps(usage)}\n\n".encode()
                yield b"data: [DONE]\n\n"
            elif mode in ("cut", "short"):
                yield event(TOKEN, mode)
                yield event(TOKEN, mode)
                if mode == "cut":
                    raise ConnectionAbortedError("test server drops the connection mid-stream")
            elif mode == "garbage":
                yield event(TOKEN, mode)
                yield b"data: {not json\n\n"
                yield b"data: [DONE]\n\n"
            else:
                yield event(TOKEN, str(mode))
                yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def ttfts(_: Request) -> Response:
        return JSONResponse(server_ttft_s)

    async def reset(_: Request) -> Response:
        server_ttft_s.clear()
        return JSONResponse([])

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/server-ttft", ttfts, methods=["GET"]),
        Route("/server-ttft", reset, methods=["DELETE"]),
    ])
    return app, server_ttft_s


@contextmanager
def serve_in_thread(port: int, first_token_ms: float = 0.0) -> Iterator[list[float]]:
    """Run the test server on 127.0.0.1:`port` in a thread; yield its server-side TTFT list."""
    app, ttfts = make_app(first_token_ms)
    # A short graceful shutdown: a `stall` request would otherwise hold the exit for 30 s.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield ttfts
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--token-ms", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(make_app(args.first_token_ms, args.token_ms)[0], host="127.0.0.1", port=args.port,
                log_level="error")
