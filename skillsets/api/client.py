"""One timed request to an OpenAI-compatible endpoint, and what went wrong when it failed.

Timing follows vLLM's serving benchmark (`vllm/benchmarks/lib/endpoint_request_func.py`), and so
does the transport (aiohttp, whose HTTP parser is compiled): the clock starts before the request
is sent; each chunk of the stream is stamped when it arrives, before it is parsed; TTFT is the
arrival of the first chunk carrying generated text; each later text event adds an inter-token
latency; end-to-end latency ends at the last text event's arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

Endpoint = Literal["chat", "completions", "embeddings"]
#: URL path of each endpoint, relative to the base URL (`http://host:port/v1`).
PATHS: dict[str, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}

#: Seconds to wait for the end of a body after its `data: [DONE]` (see `_stream`).
_DRAIN_S = 1.0

#: Kinds of failure, each counted on its own (`errors_<kind>` rows).
ERROR_KINDS = (
    "connection_refused",  # nothing listens at the host and port
    "dns",  # the host name does not resolve
    "connect",  # another failure to connect (unreachable network, TLS handshake)
    "timeout",  # no answer, or no complete answer, within the request timeout
    "http_4xx",  # the server refused the request (bad model name, auth, validation)
    "http_5xx",  # the server failed
    "incomplete_stream",  # the stream ended (or broke) before `data: [DONE]`
    "malformed_event",  # an event whose data is not the JSON the protocol says
    "protocol",  # any other transport error (the server broke the HTTP exchange)
)


@dataclass(frozen=True)
class RequestSpec:
    """What one request asks: its prompt and how many tokens to make."""

    prompt: str
    max_tokens: int


@dataclass
class RequestResult:
    """Timings of one request (seconds), or why it failed.

    Attributes:
        ok: Whether a complete answer arrived.
        ttft: Time to the first generated text (embeddings: to the whole answer).
        latency: End-to-end time to the last generated text (embeddings: to the answer).
        itl: Gaps between successive text events.
        output_tokens: Tokens generated: the server's `usage` when it reports it, else the
            number of text events.
        prompt_tokens: The server's `usage.prompt_tokens`, when reported.
        error_kind: One of `ERROR_KINDS` when not ok.
        error: The cause, in words.
    """

    ok: bool = False
    ttft: float = 0.0
    latency: float = 0.0
    itl: list[float] = field(default_factory=list)
    output_tokens: int = 0
    prompt_tokens: int | None = None
    error_kind: str | None = None
    error: str = ""
    model: str | None = None


class _Failure(Exception):
    """A request failure of a known kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify(exc: BaseException) -> tuple[str, str]:
    """The kind (one of `ERROR_KINDS`) and the cause, in words, of a transport exception."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, _Failure):
        return exc.kind, str(exc)
    # aiohttp's read and connect timeouts are TimeoutError subclasses too.
    if isinstance(exc, TimeoutError):
        return "timeout", text
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or (
            isinstance(exc, aiohttp.ClientConnectorError) and _caused_by(exc, socket.gaierror)):
        return "dns", text
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError) or _caused_by(
                exc, ConnectionRefusedError):
            return "connection_refused", text
        return "connect", text
    # The connection broke or closed before the answer was whole.
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError
                  | aiohttp.ClientOSError):
        return "incomplete_stream", text
    return "protocol", text


def _body(endpoint: Endpoint, model: str, spec: RequestSpec) -> dict[str, Any]:
    if endpoint == "embeddings":
        return {"model": model, "input": spec.prompt}
    common = {"model": model, "max_tokens": spec.max_tokens, "stream": True,
              "stream_options": {"include_usage": True}, "temperature": 0.0,
              # vLLM's extension (servers that do not know it ignore it): the output length
              # is what was asked, so runs compare.
              "ignore_eos": True}
    if endpoint == "chat":
        return {**common, "messages": [{"role": "user", "content": spec.prompt}]}
    return {**common, "prompt": spec.prompt}


def _text_of(endpoint: Endpoint, event: dict[str, Any]) -> str | None:
    choices = event.get("choices")
    if not isinstance(choices, list):
        raise _Failure("malformed_event", f"event without a choices list: {str(event)[:200]}")
    if not choices:
        return None
    choice = choices[0]
    if endpoint == "chat":
        delta = choice.get("delta") or {}
        return delta.get("content") or None
    return choice.get("text") or None


async def _read_error(response: aiohttp.ClientResponse) -> _Failure:
    raw = (await response.read()).decode(errors="replace")
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw[:300]
    kind = "http_4xx" if response.status < 500 else "http_5xx"
    return _Failure(kind, f"HTTP {response.status} from {response.url}: {message}")


class _Events:
    """Server-sent events of one stream, fed chunk by chunk as they arrive.

    Parsed by hand: the OpenAI streams are `data: <json>` lines and blank separators, and a
    parser library would add a dependency (and a layer per line) for two rules. One `split` per
    chunk keeps the cost per chunk a single C call; a line cut between chunks waits in `_tail`.
    """

    def __init__(self, endpoint: Endpoint, result: RequestResult, start: float) -> None:
        self.endpoint = endpoint
        self.result = result
        self.start = start
        self.last = start
        self.done = False
        self._tail = b""
        self._now = start

    def feed(self, chunk: bytes, now: float) -> None:
        """Parse the complete lines of `chunk` (which arrived at `now`)."""
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()
        self._now = now
        for line in lines:
            if line.startswith(b"data:") and not self.done:
                self._event(line[5:].strip(), now)

    def finish(self) -> None:
        """The body ended: parse a last line that lacked its newline (stamped with its chunk)."""
        if self._tail:
            self.feed(b"\n", self._now)

    def _event(self, data: bytes, now: float) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        try:
            event = json.loads(data)
        except ValueError:
            raise _Failure("malformed_event",
                           f"event data is not JSON: {data[:200]!r}") from None
        if not isinstance(event, dict):
            raise _Failure("malformed_event", f"event data is not an object: {data[:200]!r}")
        result = self.result
        result.model = event.get("model", result.model)
        usage = event.get("usage")
        if usage:
            result.prompt_tokens = usage.get("prompt_tokens")
            result.output_tokens = int(usage.get("completion_tokens") or 0)
        if _text_of(self.endpoint, event) is None:
            return
        if result.ttft == 0.0:
            result.ttft = now - self.start
        else:
            result.itl.append(now - self.last)
        self.last = now


async def _stream(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                  endpoint: Endpoint, result: RequestResult, start: float) -> None:
    events = _Events(endpoint, result, start)
    async with session.post(url, json=body) as response:
        if response.status >= 400:
            raise await _read_error(response)
        async for chunk in response.content.iter_any():
            events.feed(chunk, time.perf_counter())
            if events.done:
                break
        else:
            events.finish()
        if events.done and not response.content.at_eof():
            # Read the body's end (the chunk terminator after [DONE]) so the connection goes
            # back to the pool instead of being closed and opened again inside the next
            # request's TTFT. The answer is whole: a server that holds the stream open, or
            # breaks it, after [DONE] costs its connection, not the request.
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                async with asyncio.timeout(_DRAIN_S):
                    await response.content.read()
    if not events.done:
        raise _Failure("incomplete_stream",
                       f"the stream from {url} ended after {len(result.itl) + bool(result.ttft)} "
                       "text events without data: [DONE]")
    if result.ttft == 0.0:
        raise _Failure("incomplete_stream", f"the stream from {url} carried no generated text")
    result.latency = events.last - start
    if not result.output_tokens:
        result.output_tokens = len(result.itl) + 1


async def _embed(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                 result: RequestResult, start: float) -> None:
    async with session.post(url, json=body) as response:
        if response.status >= 400:
            raise await _read_error(response)
        raw = await response.read()
    elapsed = time.perf_counter() - start
    try:
        payload = json.loads(raw)
        vectors = payload["data"]
        if not vectors or not isinstance(vectors[0]["embedding"], list):
            raise ValueError("no embedding in data")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise _Failure("malformed_event", f"embeddings answer is not the OpenAI shape: {exc}"
                       ) from None
    result.model = payload.get("model")
    result.prompt_tokens = (payload.get("usage") or {}).get("prompt_tokens")
    result.ttft = result.latency = elapsed


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop for the client: uvloop's where it is installed, else asyncio's.

    With many streams in flight, chunks that arrive together are handled one after another, so
    the loop's own time per chunk delays the stamps of the later ones; uvloop's is compiled.
    """
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def new_session(connections: int, api_key: str | None, timeout_s: float
                ) -> aiohttp.ClientSession:
    """A session whose pool keeps up to `connections` connections alive between requests.

    `send` bounds each whole request by its own timeout; the session bounds only how long
    opening a connection may take. Proxies from the environment are not used (`trust_env`), so
    what is measured is the endpoint named.
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, ttl_dns_cache=300,
                                     keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_s, 10.0))
    return aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout,
                                 trust_env=False)


async def open_connections(session: aiohttp.ClientSession, base_url: str, n: int,
                           limit_s: float) -> None:
    """Open `n` pooled connections before the clock starts, so that no measured request pays
    for its TCP (and TLS) handshake.

    Each is opened by a `GET /models` (every OpenAI-compatible server has it, and any answer,
    an error status included, leaves the connection open); the `n` go out together so each
    takes a connection of its own. A failure here is left for the measured requests, which
    meet the same cause and count it by kind; `limit_s` bounds the wait for a silent host.
    """
    url = base_url.rstrip("/") + "/models"

    async def one() -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(limit_s), session.get(url) as response:
                await response.read()

    await asyncio.gather(*(one() for _ in range(n)))


async def send(session: aiohttp.ClientSession, base_url: str, endpoint: Endpoint, model: str,
               spec: RequestSpec, timeout_s: float) -> RequestResult:
    """Send one request and time it; never raises for a failed request (see `error_kind`).

    Args:
        session: The shared session (its connection pool, headers and connect timeout).
        base_url: `http://host:port/v1`.
        endpoint: Which API to call.
        model: The `model` field.
        spec: Prompt and output length.
        timeout_s: The whole request's limit, streaming included.
    """
    url = base_url.rstrip("/") + PATHS[endpoint]
    body = _body(endpoint, model, spec)
    result = RequestResult()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            if endpoint == "embeddings":
                await _embed(session, url, body, result, start)
            else:
                await _stream(session, url, body, endpoint, result, start)
        result.ok = True
    except (aiohttp.ClientError, _Failure, TimeoutError) as exc:
        result.error_kind, result.error = classify(exc)
        if result.error_kind == "timeout":
            result.error = f"no complete answer from {url} within {timeout_s:g} s ({result.error})"
    return result
