"""The OpenAI-compatible HTTP API over served skills: FastAPI app and its request schemas.

Endpoints: `GET /health`, `GET /v1/models`, `POST /v1/embeddings`, `POST /v1/completions`,
`POST /v1/chat/completions` (both with `stream: true` as server-sent events, one event per
generated token, then `data: [DONE]`). Errors use OpenAI's `{"error": {...}}` body.
"""

from __future__ import annotations

import base64
import difflib
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from skillsets.api.engine import BadRequestError, ServedModel, describe


class StreamOptions(BaseModel):
    """OpenAI's `stream_options`."""

    include_usage: bool = False


class _Generation(BaseModel):
    model: str
    max_tokens: int = Field(default=16, ge=1, le=4096)
    stream: bool = False
    stream_options: StreamOptions | None = None
    #: vLLM's extension, which benchmark clients send so that every request makes max_tokens.
    ignore_eos: bool = False
    temperature: float | None = None


class CompletionRequest(_Generation):
    """`POST /v1/completions` body (the fields this server honours; others are ignored)."""

    prompt: str | list[str]


class TextPart(BaseModel):
    """A text part of a message's content (OpenAI's `[{"type": "text", "text": ...}]` form)."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One chat message."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[TextPart]

    @property
    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatRequest(_Generation):
    """`POST /v1/chat/completions` body."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)


class EmbeddingRequest(BaseModel):
    """`POST /v1/embeddings` body."""

    model: str
    input: str | list[str]
    #: The OpenAI Python client asks for base64 (little-endian float32) unless told otherwise.
    encoding_format: Literal["float", "base64"] = "float"


class ApiError(Exception):
    """An error answered as OpenAI's error body with an HTTP status."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def _error_response(exc: ApiError) -> JSONResponse:
    body = {"error": {"message": exc.message, "type": exc.kind, "code": exc.code}}
    return JSONResponse(body, status_code=exc.status)


def chat_prompt(messages: list[ChatMessage]) -> str:
    """Messages as one prompt: `role: content` lines, then `assistant:` to answer.

    Tiny and random-weight skills ship no chat template, so every model gets this plain one.
    """
    lines = [f"{m.role}: {m.text}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return vector


def _sse(payload: Mapping[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


def create_app(models: Mapping[str, ServedModel], api_token: str | None = None) -> FastAPI:
    """The API app serving `models` (by name); requests need `Bearer <api_token>` when set."""
    app = FastAPI(title="skillsets OpenAI-compatible API")

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return _error_response(ApiError(400, f"invalid request: {problems}",
                                        "invalid_request_error"))

    @app.middleware("http")
    async def _bearer(request: Request, call_next: Any) -> Any:
        # /health answers without the token, as vLLM's does: load balancers probe it.
        if api_token and request.url.path != "/health":
            given = request.headers.get("authorization", "")
            # Constant-time comparison: the token is a secret.
            if not secrets.compare_digest(given.encode(), f"Bearer {api_token}".encode()):
                return _error_response(ApiError(
                    401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                    "with the token the server was started with", "authentication_error",
                    "invalid_api_key"))
        return await call_next(request)

    def lookup(name: str, kind: str) -> ServedModel:
        model = models.get(name)
        if model is None:
            close = difflib.get_close_matches(name, list(models), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ApiError(404, f"model {name!r} is not served here (served: "
                           f"{', '.join(models)}){hint}", "invalid_request_error",
                           "model_not_found")
        if model.kind != kind:
            raise ApiError(400, f"model {name!r} is a {model.kind} model; this endpoint needs "
                           f"a {kind} one", "invalid_request_error")
        return model

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [describe(m) for m in models.values()]}

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
        model = lookup(body.model, "embedding")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts:
            raise ApiError(400, "input is empty: give a string or a list of strings",
                           "invalid_request_error")
        vectors, tokens = model.embed(texts)
        return {
            "object": "list", "model": model.name,
            "data": [{"object": "embedding", "index": i,
                      "embedding": _encode(v, body.encoding_format)}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def generate(model: ServedModel, prompt: str, body: _Generation, max_tokens: int,
                 chat: bool) -> Any:
        request_id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        obj = "chat.completion" if chat else "text_completion"
        try:
            prompt_tokens = model.count_tokens(prompt)
            tokens = model.stream(prompt, max_tokens, body.ignore_eos)
            first = next(tokens, None)  # raises BadRequestError before any byte is sent
        except BadRequestError as exc:
            raise ApiError(400, str(exc), "invalid_request_error") from exc
        pieces = [] if first is None else [first]

        def usage(n: int) -> dict[str, int]:
            return {"prompt_tokens": prompt_tokens, "completion_tokens": n,
                    "total_tokens": prompt_tokens + n}

        def finish(n: int) -> str:
            return "length" if n >= max_tokens else "stop"

        if not body.stream:
            pieces.extend(tokens)
            text = "".join(pieces)
            choice: dict[str, Any] = (
                {"index": 0, "message": {"role": "assistant", "content": text}}
                if chat else {"index": 0, "text": text, "logprobs": None})
            choice["finish_reason"] = finish(len(pieces))
            return {"id": request_id, "object": obj, "created": created, "model": model.name,
                    "choices": [choice], "usage": usage(len(pieces))}

        def chunk(text: str | None, reason: str | None, n: int) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {} if text is None else {"content": text}
                if n == 1 and text is not None:
                    delta["role"] = "assistant"
                choice = {"index": 0, "delta": delta, "finish_reason": reason}
            else:
                choice = {"index": 0, "text": text or "", "finish_reason": reason,
                          "logprobs": None}
            return {"id": request_id, "object": obj + ".chunk" if chat else obj,
                    "created": created, "model": model.name, "choices": [choice]}

        def events() -> Iterator[str]:
            n = 0
            for text in itertools.chain(pieces, tokens):
                n += 1
                yield _sse(chunk(text, None, n))
            yield _sse(chunk(None, finish(n), n))
            if body.stream_options is not None and body.stream_options.include_usage:
                yield _sse({"id": request_id, "object": obj + (".chunk" if chat else ""),
                            "created": created, "model": model.name, "choices": [],
                            "usage": usage(n)})
            yield _sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.post("/v1/completions")
    def completions(body: CompletionRequest) -> Any:
        model = lookup(body.model, "generative")
        if isinstance(body.prompt, list):
            if len(body.prompt) != 1:
                raise ApiError(400, f"this server takes one prompt per request, got "
                               f"{len(body.prompt)}; send them as separate requests",
                               "invalid_request_error")
            prompt = body.prompt[0]
        else:
            prompt = body.prompt
        return generate(model, prompt, body, body.max_tokens, chat=False)

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatRequest) -> Any:
        model = lookup(body.model, "generative")
        limit = body.max_completion_tokens or body.max_tokens
        return generate(model, chat_prompt(body.messages), body, limit, chat=True)

    return app
