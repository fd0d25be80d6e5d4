"""`skillsets metrics`: the warehouse's latest values for Prometheus."""

from __future__ import annotations

import contextlib
import threading
from typing import Annotated

import typer

from cli.output import console, fail
from cli.warehouse import WarehouseOption
from skillsets.settings import SettingsError, load_settings
from warehouse.metrics import serve as serve_metrics

metrics_app = typer.Typer(
    help="Prometheus metrics of the warehouse (latency, throughput, pass rates, alerts).",
    no_args_is_help=True,
)


@metrics_app.command("serve")
def serve(
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port to listen on (default: SKILLSETS_METRICS_PORT, 9464)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; loopback unless you mean otherwise.")
    ] = "127.0.0.1",
    warehouse: WarehouseOption = None,
) -> None:
    """Serve /metrics until interrupted; every scrape reads the warehouse afresh (read-only)."""
    try:
        settings = load_settings(warehouse=warehouse, metrics_port=port)
    except SettingsError as exc:
        fail(str(exc))
    try:
        server, _ = serve_metrics(settings.warehouse, settings.metrics_port, host)
    except OSError as exc:
        fail(f"cannot listen on {host}:{settings.metrics_port}: {exc}")
    console.print(
        f"serving http://{host}:{settings.metrics_port}/metrics from {settings.warehouse} "
        "(Ctrl-C stops)"
    )
    if not settings.warehouse.exists():
        console.print(
            f"[yellow]no warehouse at {settings.warehouse} yet: scrapes report "
            "skillsets_warehouse_up 0 until a run creates it[/]"
        )
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.shutdown()
