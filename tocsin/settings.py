"""All configuration in one pydantic-settings class, read from ``TOCSIN_*`` variables.

``DATABASE_URL`` and ``TEMPORAL_ADDRESS`` are also read without the prefix, because that is
what operators and container platforms set; when they are empty the dev stack starts
embedded servers instead.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOCSIN_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TOCSIN_DATABASE_URL")
    )
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "TOCSIN_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = "default"
    task_queue: str = "tocsin"

    host: str = "127.0.0.1"
    port: int = 8080
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # Where the web UI links an incident's workflow run; default: the dev server's UI.
    temporal_ui_url: str | None = None
    data_dir: Path = Path(".tocsin")

    # API processes sharing the port (SO_REUSEPORT copies). 1 by default: on 2 cores shared
    # with the worker and Temporal, a second one made the storm slower (docs/benchmarks.md);
    # use more where the API has cores of its own.
    api_workers: int = Field(default=1, ge=1)
    # Worker processes `tocsin worker` runs on the task queue: the worker is CPU-bound in
    # one Python process, and a second one uses the spare core (docs/benchmarks.md).
    worker_processes: int = Field(default=2, ge=1)
    # Run workflows in Temporal's sandbox, which re-imports the workflow module for every
    # run and enters the sandbox for every activation and payload: about a third of the
    # worker's CPU (docs/benchmarks.md). The test suite runs its workers sandboxed, so
    # workflow code that breaks the sandbox's rules (I/O, clocks, randomness) fails there;
    # production runs the same, replay-tested code without that overhead.
    workflow_sandbox: bool = False

    # How long a person's action (acknowledge, resolve, PATCH, note) waits for a worker to
    # apply it before the API answers 503 WORKER_UNAVAILABLE instead of hanging.
    update_wait_seconds: float = Field(default=30.0, gt=0)
    rate_limit_requests: int = 120
    rate_limit_window_seconds: float = 60.0
    # How long a read of a just-accepted incident (GET /api/incidents/:id, a manual
    # incident's creation) waits for the projection to write it before answering 404/503.
    read_wait_seconds: float = 2.0
    # How long an API process reuses an integration key lookup and a service's suppression
    # rules on the ingest path while it cannot hear configuration changes (its LISTEN
    # connection is being re-established); while it hears them, any change applies at once
    # (docs/architecture.md). 0 reads them on every event.
    config_cache_seconds: float = 5.0
    db_pool_size: int = 20

    log_level: str = "INFO"
    # One JSON object per log line (docs/observability.md); `tocsin up` runs its children
    # with text unless this is set.
    log_format: Literal["json", "text"] = "json"
    # Hypercorn's line per request (JSON like the rest); off by default: under an event
    # storm it is one more line per event.
    access_log: bool = False

    # Prometheus metrics (docs/observability.md): the API serves /metrics on its own port;
    # `tocsin worker` serves its processes' metrics on this port (None: not served). With a
    # token, the API's /metrics needs `Authorization: Bearer <token>`.
    worker_metrics_port: int | None = 9464
    metrics_token: SecretStr | None = None

    # Where people open an incident from a notification (links in Slack and email).
    public_url: str = "http://127.0.0.1:8080"

    # Signs the web UI's session cookie (docs/ui.md). Without it the UI answers 503; the
    # dev stack makes one in the data dir.
    secret_key: SecretStr | None = None
    # Sign-in throttling (docs/security.md): at most this many failed sign-ins per account
    # and per client address within the window; then 429 until the window has passed.
    login_attempts_per_account: int = Field(default=5, ge=1)
    login_attempts_per_address: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)

    # Slack (docs/notifications.md). Without a bot token Slack deliveries are skipped and the
    # timeline says so; without a signing secret /api/slack/* answers 503.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    # Slack's Web API; tests point it at a local server that speaks the same protocol.
    slack_api_url: str = "https://slack.com/api/"
    # P1/P2 incidents get their own channel (created on trigger, archived on resolve).
    slack_incident_channels: bool = False

    # Email over SMTP; without a host, email deliveries are skipped.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "Tocsin <tocsin@localhost>"

    # Outgoing webhooks are signed with a per-service secret derived from this key, so no
    # secret is stored in the database (docs/webhooks.md). Without it webhooks are skipped.
    webhook_signing_key: SecretStr | None = None
    # Webhooks may reach loopback, private, link-local and other non-public addresses only
    # when this is on (docs/security.md); tests turn it on for their local receivers.
    webhook_allow_private_targets: bool = False

    # Amazon SNS deliveries (CloudWatch alarms, docs/integrations.md): signing certificates
    # and subscription confirmations are fetched only from hosts matching this pattern, and
    # only over https. Tests point both at a local server.
    sns_host_pattern: str = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    sns_allow_http: bool = False
    # Signed SNS messages older than this (by their Timestamp) are refused as replays.
    sns_max_age_seconds: float = 3600.0

    def temporal_ui_base(self) -> str:
        url = self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}"
        return url.rstrip("/")

    def sqlalchemy_url(self) -> str:
        """The database URL in the asyncpg dialect SQLAlchemy needs."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return to_asyncpg_url(self.database_url)


def to_asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


@lru_cache
def get_settings() -> Settings:
    return Settings()
