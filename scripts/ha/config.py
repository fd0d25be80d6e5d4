"""Where the high-availability stack lives, which ports it takes, and its credentials.

Every field `x` of `HASettings` is read from `SKILLSETS_HA_X`. Passwords left unset are generated
once into `<dir>/secrets/` (mode 600) and read back on the next start, so a restart keeps them and
nothing secret is ever written to the repository, a command line or a log.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The roles of the front door, least privileged first.
ROLES = ("viewer", "operator")


class HASettings(BaseSettings):
    """Ports and folders of one HA stack (all on loopback unless `host` says otherwise)."""

    model_config = SettingsConfigDict(env_prefix="SKILLSETS_HA_", extra="forbid")

    dir: Path = REPO_ROOT / "data" / "ha"
    #: Address every component binds; the proxy is the only door meant for users.
    host: str = "127.0.0.1"
    proxy_port: int = Field(default=4200, ge=1, le=65535)
    #: One Prefect API replica per port.
    api_ports: list[int] = [4201, 4202]
    postgres_port: int = Field(default=54320, ge=1, le=65535)
    redis_port: int = Field(default=63790, ge=1, le=65535)
    #: `skillsets metrics serve`, behind the proxy at /metrics.
    metrics_port: int = Field(default=9464, ge=1, le=65535)
    #: A static file server over the reports folder, behind the proxy at /reports/.
    report_port: int = Field(default=8470, ge=1, le=65535)
    #: The folder /reports/ serves (default: SKILLSETS_OUTPUT_DIR's reports, else data/output).
    reports_dir: Path = REPO_ROOT / "data" / "output" / "reports"
    work_pool: str = "skillsets"
    #: Seconds between flow-run heartbeats (Prefect's minimum is 30) and the silence after which
    #: the zombie automation marks a run Crashed (Prefect's guide: three missed heartbeats).
    heartbeat_seconds: int = Field(default=30, ge=30)
    zombie_after_seconds: int = Field(default=90, ge=31)
    #: Passwords of the two roles; generated into <dir>/secrets when unset.
    viewer_password: SecretStr | None = None
    operator_password: SecretStr | None = None
    #: Deploy prefect.yaml's deployments on `up` (tests deploy the one they run).
    deploy: bool = True

    @model_validator(mode="after")
    def _distinct_ports(self) -> HASettings:
        ports = [self.proxy_port, *self.api_ports, self.postgres_port, self.redis_port,
                 self.metrics_port, self.report_port]
        if len(set(ports)) != len(ports):
            raise ValueError(f"SKILLSETS_HA_*_PORT(S) must all differ; got {ports}")
        if len(self.api_ports) < 2:
            raise ValueError("SKILLSETS_HA_API_PORTS needs at least two ports: one replica is "
                             "no failover")
        if self.zombie_after_seconds <= self.heartbeat_seconds:
            raise ValueError("SKILLSETS_HA_ZOMBIE_AFTER_SECONDS must exceed "
                             "SKILLSETS_HA_HEARTBEAT_SECONDS, or every live run looks dead")
        return self

    @property
    def proxy_url(self) -> str:
        """The front door, e.g. http://127.0.0.1:4200."""
        return f"http://{self.host}:{self.proxy_port}"

    @property
    def api_url(self) -> str:
        """PREFECT_API_URL for every client: the API through the proxy."""
        return f"{self.proxy_url}/api"

    @property
    def secrets_dir(self) -> Path:
        return self.dir / "secrets"

    @property
    def pid_dir(self) -> Path:
        return self.dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"


def write_secret(path: Path, value: str) -> None:
    """Write `value` to `path`, readable by its owner only from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.chmod(path, 0o600)


def secret(settings: HASettings, name: str, configured: SecretStr | None = None) -> str:
    """The secret `name`: the configured value (stored so other processes read the same), else
    the one stored in <dir>/secrets/<name>, else a new random one stored there."""
    path = settings.secrets_dir / name
    if configured is not None:
        value = configured.get_secret_value()
        if not path.is_file() or path.read_text() != value:
            write_secret(path, value)
        return value
    if path.is_file():
        return path.read_text()
    value = secrets.token_urlsafe(24)
    write_secret(path, value)
    return value


def role_password(settings: HASettings, role: str) -> str:
    """The password of `role` (`viewer` or `operator`).

    Raises:
        ValueError: an unknown role; the message lists the valid ones.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    configured = settings.viewer_password if role == "viewer" else settings.operator_password
    return secret(settings, f"{role}-password", configured)


def auth_string(settings: HASettings, role: str) -> str:
    """`role:password`, the form PREFECT_API_AUTH_STRING takes for HTTP basic auth."""
    return f"{role}:{role_password(settings, role)}"
