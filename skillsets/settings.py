"""The one typed settings object, read from `SKILLSETS_*` environment variables and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hardware.fingerprint import REPO_ROOT
from hardware.names import UnknownNameError
from hardware.registry import BACKEND_NAMES, get_backend

DATA_DIR = REPO_ROOT / "data"
ENV_PREFIX = "SKILLSETS_"


class SettingsError(ValueError):
    """Settings were invalid; the message names each offending environment variable."""


class Settings(BaseSettings):
    """Where things live and what to run on.

    Every field `x` is read from the environment variable `SKILLSETS_X`.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    warehouse: Path = DATA_DIR / "warehouse.duckdb"
    output_dir: Path = DATA_DIR / "output"
    #: Dask scheduler address (`tcp://host:8786`, `tls://...`); empty = start a local cluster.
    scheduler_address: str = ""
    #: Backends to use: `auto` (every available one) or names, comma-separated in the environment.
    hardware: Annotated[list[str], NoDecode] = ["auto"]
    #: Prometheus Pushgateway (`http://host:9091`) flows push their metrics to; empty = no push.
    pushgateway_url: str = ""
    #: Port `skillsets metrics serve` listens on.
    metrics_port: int = Field(default=9464, ge=1, le=65535)
    #: Mutual TLS for Dask: one CA, and the certificate + key this process presents (the same
    #: pair serves scheduler, workers and clients unless the deployment issues one per role).
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: A scheduler reachable beyond loopback without TLS is refused unless this is set.
    allow_insecure_remote: bool = False
    #: Share of the memory available when a benchmark loads a model that its weights may take:
    #: a reference-size model whose parameters would not fit is skipped with the reason.
    memory_budget: float = Field(default=0.8, gt=0.0, le=1.0)
    #: Bearer token `skillsets serve` requires of every request; empty = no token needed.
    api_token: str = Field(default="", repr=False)

    @field_validator("hardware", mode="before")
    @classmethod
    def _split_hardware(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("hardware")
    @classmethod
    def _known_hardware(cls, value: list[str]) -> list[str]:
        if value == ["auto"]:
            return value
        if not value:
            raise ValueError(
                f"empty hardware selection; use 'auto' or names from {', '.join(BACKEND_NAMES)}"
            )
        for name in value:
            try:
                get_backend(name)
            except UnknownNameError as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("pushgateway_url")
    @classmethod
    def _pushgateway_scheme(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL; write e.g. http://{value}")
        return value

    @field_validator("scheduler_address")
    @classmethod
    def _scheduler_scheme(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError(f"{value!r} has no scheme; write e.g. tcp://{value} or tls://{value}")
        return value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def tls_enabled(self) -> bool:
        """Whether a complete TLS configuration (CA, certificate, key) is set."""
        return None not in (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with CLI flags (non-None overrides) on top.

    Raises:
        SettingsError: naming the environment variable of each invalid value.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            source = (
                "flag --" + field.replace("_", "-")
                if field in given
                else ENV_PREFIX + field.upper()
            )
            lines.append(f"{source}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
