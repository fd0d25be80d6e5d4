"""One timed request to an OpenAI-compatible endpoint, and what went wrong when it failed.

Timing follows vLLM's serving benchmark (`vllm/benchmarks/lib/endpoint_request_func.py`): the
clock starts before the request is sent; TTFT is the arrival of the first event carrying
generated text; each later text event adds an inter-token latency; end-to-end latency ends at
the last text event's arrival.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

Endpoint = Literal["chat", "completions", "embeddings"]
#: URL path of each endpoint, relative to the base URL (`http://host:port/v1`).
PATHS: dict[str, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}

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
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return "timeout", text
    if isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, socket.gaierror) or "name resolution" in str(exc).lower() or (
                "name or service not known" in str(exc).lower()):
            return "dns", text
        if _caused_by(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
            return "connection_refused", text
        return "connect", text
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
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


async def _read_error(response: httpx.Response) -> _Failure:
    raw = (await response.aread()).decode(errors="replace")
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw[:300]
    kind = "http_4xx" if response.status_code < 500 else "http_5xx"
    return _Failure(kind, f"HTTP {response.status_code} from {response.url}: {message}")


async def _stream(client: httpx.AsyncClient, url: str, body: dict[str, Any],
                  endpoint: Endpoint, result: RequestResult, start: float) -> None:
    last = start
    done = False
    async with client.stream("POST", url, json=body) as response:
        if response.status_code >= 400:
            raise await _read_error(response)
        # Server-sent events parsed by hand: the OpenAI streams are `data: <json>` lines and
        # blank separators, and a parser library would add a dependency for two rules.
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            now = time.perf_counter()
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise _Failure("malformed_event",
                               f"event data is not JSON: {data[:200]!r}") from None
            if not isinstance(event, dict):
                raise _Failure("malformed_event", f"event data is not an object: {data[:200]!r}")
            result.model = event.get("model", result.model)
            usage = event.get("usage")
            if usage:
                result.prompt_tokens = usage.get("prompt_tokens")
                result.output_tokens = int(usage.get("completion_tokens") or 0)
            text = _text_of(endpoint, event)
            if text is None:
                continue
            if result.ttft == 0.0:
                result.ttft = now - start
            else:
                result.itl.append(now - last)
            last = now
    if not done:
        raise _Failure("incomplete_stream",
                       f"the stream from {url} ended after {len(result.itl) + bool(result.ttft)} "
                       "text events without data: [DONE]")
    if result.ttft == 0.0:
        raise _Failure("incomplete_stream", f"the stream from {url} carried no generated text")
    result.latency = last - start
    if not result.output_tokens:
        result.output_tokens = len(result.itl) + 1


async def _embed(client: httpx.AsyncClient, url: str, body: dict[str, Any],
                 result: RequestResult, start: float) -> None:
    response = await client.post(url, json=body)
    if response.status_code >= 400:
        raise await _read_error(response)
    elapsed = time.perf_counter() - start
    try:
        payload = response.json()
        vectors = payload["data"]
        if not vectors or not isinstance(vectors[0]["embedding"], list):
            raise ValueError("no embedding in data")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise _Failure("malformed_event", f"embeddings answer is not the OpenAI shape: {exc}"
                       ) from None
    result.model = payload.get("model")
    result.prompt_tokens = (payload.get("usage") or {}).get("prompt_tokens")
    result.ttft = result.latency = elapsed


async def send(client: httpx.AsyncClient, base_url: str, endpoint: Endpoint, model: str,
               spec: RequestSpec, timeout_s: float) -> RequestResult:
    """Send one request and time it; never raises for a failed request (see `error_kind`).

    Args:
        client: The shared async client (its connection pool, headers and timeouts).
        base_url: `http://host:port/v1`.
        endpoint: Which API to call.
        model: The `model` field.
        spec: Prompt and output length.
        timeout_s: The whole request's limit, streaming included (httpx's own timeouts bound
            each read, not a slow stream as a whole).
    """
    url = base_url.rstrip("/") + PATHS[endpoint]
    body = _body(endpoint, model, spec)
    result = RequestResult()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            if endpoint == "embeddings":
                await _embed(client, url, body, result, start)
            else:
                await _stream(client, url, body, endpoint, result, start)
        result.ok = True
    except (httpx.HTTPError, _Failure, TimeoutError) as exc:
        result.error_kind, result.error = classify(exc)
        if result.error_kind == "timeout":
            result.error = f"no complete answer from {url} within {timeout_s:g} s ({result.error})"
    return result
