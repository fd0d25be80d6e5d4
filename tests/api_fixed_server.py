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
    lingering    one token and [DONE], and the end of the body 5 ms later (a client that stops
                 reading at [DONE] leaves its connection unfit to reuse)
    ragged       three tokens and [DONE], cut mid-line across writes, with CRLF line ends and
                 no newline after the last line (what a proxy in between may make of a stream)
    fail500      HTTP 500 with an OpenAI error body
    reject400    HTTP 400 with an OpenAI error body

Server-side TTFT of every `fixed` request is kept in `Seen.ttft_s`, and served at
`GET /server-ttft` for an out-of-process server (`DELETE /server-ttft` empties it). It runs from
the request reaching the app (the first line of the ASGI callable, once uvicorn has parsed the
request head) to the first token written (`send` of its chunk returned: uvicorn has handed it to
the socket).

The app is a bare ASGI callable under uvicorn rather than a Starlette app: the overhead
benchmark charges the client with everything outside the server's stamps, and Starlette's stack
(middleware, a task group per streamed response) cost this server more per request than the
client it measures, time that, with 16 requests arriving together, queued before the stamp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

TOKEN = "tok"

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _event(text: str, model: str) -> bytes:
    body = {"id": "x", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _usage(n: int) -> bytes:
    body = {"choices": [], "model": "fixed",
            "usage": {"prompt_tokens": 4, "completion_tokens": n, "total_tokens": n + 4}}
    return f"data: {json.dumps(body)}\n\n".encode()


_FIXED = _event(TOKEN, "fixed")
_DONE = b"data: [DONE]\n\n"


async def _json(send: Send, status: int, payload: Any) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _JSON_HEADERS})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


@dataclass
class Seen:
    """What the server saw.

    Attributes:
        ttft_s: Server-side TTFT (s) of each `fixed` request.
        peers: The client address (host, port) of each request, in order: one port per
            connection the client opened.
    """

    ttft_s: list[float] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)


def make_app(first_token_ms: float = 0.0, token_ms: float = 0.0) -> tuple[App, Seen]:
    """The ASGI app and the record of what it saw."""
    seen = Seen()

    async def chunk(send: Send, data: bytes, more: bool = True) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": more})

    async def chat(arrived: float, receive: Receive, send: Send) -> None:
        body = json.loads(await _read_body(receive))
        mode, n = body.get("model"), int(body.get("max_tokens", 16))
        if mode == "fail500":
            return await _json(send, 500, {"error": {"message": "test server failure"}})
        if mode == "reject400":
            return await _json(send, 400, {"error": {"message": "test server rejects this"}})
        if mode == "stall":
            await asyncio.sleep(30)
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        if mode == "fixed":
            await asyncio.sleep(first_token_ms / 1000)
            await chunk(send, _FIXED)
            seen.ttft_s.append(time.perf_counter() - arrived)
            for _ in range(n - 1):
                if token_ms:
                    await asyncio.sleep(token_ms / 1000)
                await chunk(send, _FIXED)
            # The last events and the end of the body in one write: 16 streams end together,
            # and each write the server makes then delays the next requests' arrival.
            return await chunk(send, _usage(n) + _DONE, more=False)
        elif mode in ("cut", "short"):
            await chunk(send, _event(TOKEN, mode) + _event(TOKEN, mode))
            if mode == "cut":
                # uvicorn closes the connection of an app that fails mid-response.
                raise ConnectionAbortedError("test server drops the connection mid-stream")
        elif mode == "lingering":
            await chunk(send, _event(TOKEN, mode) + _DONE)
            await asyncio.sleep(0.005)
        elif mode == "ragged":
            data = (_event(TOKEN, mode) * 3).replace(b"\n", b"\r\n") + _DONE.rstrip()
            for i in range(0, len(data), 37):
                await chunk(send, data[i:i + 37])
                # A pause, so each piece reaches the client in a read of its own.
                await asyncio.sleep(0.002)
        elif mode == "garbage":
            await chunk(send, _event(TOKEN, mode) + b"data: {not json\n\n" + _DONE)
        else:
            await chunk(send, _event(TOKEN, str(mode)) + _DONE)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        arrived = time.perf_counter()
        seen.peers.append(tuple(scope["client"]))
        route = (scope["method"], scope["path"])
        if route == ("POST", "/v1/chat/completions"):
            await chat(arrived, receive, send)
        elif route == ("GET", "/server-ttft"):
            await _json(send, 200, seen.ttft_s)
        elif route == ("DELETE", "/server-ttft"):
            seen.ttft_s.clear()
            await _json(send, 200, [])
        else:
            await _json(send, 404, {"error": {"message": f"no route {route}"}})

    return app, seen


def _config(app: App, port: int, **kwargs: Any) -> uvicorn.Config:
    # No lifespan: the bare app has no startup or shutdown work.
    return uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off",
                          **kwargs)


@contextmanager
def serve_in_thread(port: int, first_token_ms: float = 0.0) -> Iterator[Seen]:
    """Run the test server on 127.0.0.1:`port` in a thread; yield the record of what it saw."""
    app, seen = make_app(first_token_ms)
    # A short graceful shutdown: a `stall` request would otherwise hold the exit for 30 s.
    server = uvicorn.Server(_config(app, port, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield seen
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--token-ms", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.Server(_config(make_app(args.first_token_ms, args.token_ms)[0], args.port)).run()
