"""`skillsets serve`: an OpenAI-compatible HTTP API over skillsets (embeddings, completions)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from cli.output import err_console, fail
from hardware.names import UnknownNameError
from skillsets.runtime.errors import SkillUnavailableError
from skillsets.settings import SettingsError, load_settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m",
                     help="Model type to serve with tiny random weights (repeatable): gpt2."),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="Checkpoint directory (config.json + safetensors) to serve "
                          "(repeatable); its folder name is the model name."),
    ] = None,
    served_name: Annotated[
        str | None,
        typer.Option(help="Name clients use for the model, when one model is served."),
    ] = None,
    hardware: Annotated[str, typer.Option(help="Backend to run on.")] = "cpu",
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve skillsets over the OpenAI API: /v1/models, /v1/embeddings, /v1/completions and
    /v1/chat/completions (with streaming). Set SKILLSETS_API_TOKEN to require a bearer token."""
    import uvicorn

    from skillsets.api.engine import ServedModel, load_served
    from skillsets.api.server import create_app

    sources: list[tuple[str | None, Path | None]] = [(m, None) for m in model or []]
    sources += [(None, c) for c in checkpoint or []]
    if not sources:
        fail("nothing to serve: give --model TYPE or --checkpoint DIR (repeatable)")
    if served_name and len(sources) > 1:
        fail("--served-name names one model; serve one --model or --checkpoint with it")
    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(str(exc))
    if not _is_loopback(host) and not settings.api_token:
        err_console.print(f"[yellow]warning:[/] serving on {host} without a token; set "
                          "SKILLSETS_API_TOKEN to require one")
    served: dict[str, ServedModel] = {}
    for model_type, path in sources:
        try:
            item = load_served(model_type, path, served_name, hardware)
        except UnknownNameError as exc:
            fail(exc.message)
        except SkillUnavailableError as exc:
            fail(str(exc))
        if item.name in served:
            fail(f"two models are named {item.name!r}; give one --served-name or serve "
                 "them from differently named folders")
        served[item.name] = item
        err_console.print(f"serving {item.name} ({item.kind}, {item.skill.weights}) "
                          f"on {item.skill.hardware}")
    app = create_app(served, settings.api_token or None)
    uvicorn.run(app, host=host, port=port, log_level="warning")
