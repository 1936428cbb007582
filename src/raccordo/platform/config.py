"""Configuration from ``RACCORDO_*`` environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RACCORDO_", env_file=None, extra="ignore")

    data_dir: Path = Field(
        default=Path("raccordo-data"),
        description="Database (SQLite), attachments and the generated secret key live here.",
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite at DATA_DIR/raccordo.db.")
    secret_key: str = Field(
        default="",
        description="Key for encrypting inbox secrets at rest; empty means generated once into DATA_DIR/secret.key.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="", description="Base URL customers and callbacks see; defaults to http://HOST:PORT."
    )
    default_region: str = Field(
        default="IT", description="Region used to read phone numbers written without a country code."
    )
    default_language: str = "it"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, description="Requests larger than this get 413.")
    max_attachment_bytes: int = Field(default=8 * 1024 * 1024)
    session_hours: int = 12
    cookie_secure: bool = Field(
        default=False,
        description="Always mark session cookies Secure (they are anyway on requests that arrive over HTTPS).",
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Comma-separated addresses (or *) of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are "
            "believed: HTTPS there makes cookies Secure, and login limits count the real client."
        ),
    )
    metrics_token: str = Field(
        default="", description="When set, /metrics answers only to `Authorization: Bearer <token>`."
    )
    login_max_failures: int = Field(
        default=5, description="Failed logins allowed per email (and 4x per client address) in the window."
    )
    login_window_seconds: int = 900
    login_account_max_failures: int = Field(
        default=50,
        ge=1,
        description=(
            "Failed logins allowed per account (organization + email) from all addresses together in the window; "
            "past it the account refuses every address until the window passes (a distributed guessing attack)."
        ),
    )
    password_hash: Literal["production", "test"] = Field(
        default="production",
        description=(
            "Argon2id cost profile of new password hashes: production (RFC 9106 low-memory: 3 passes, 64 MiB) or "
            "test (the cheapest, for test suites only: never in production)."
        ),
    )
    password_hash_time_cost: int | None = Field(
        default=None, ge=1, description="Argon2 passes; overrides the profile's."
    )
    password_hash_memory_kib: int | None = Field(
        default=None, ge=8, description="Argon2 memory in KiB; overrides the profile's."
    )
    auto_migrate: bool = Field(
        default=True, description="`serve` and the other commands upgrade the schema to head on start."
    )
    delivery_poll_seconds: float = Field(
        default=1.0, description="How often the in-process worker looks for due outbound messages."
    )
    delivery_max_attempts: int = 8
    delivery_lease_seconds: float = Field(
        default=120.0,
        description=(
            "A worker that claimed a send and died frees it after this long; the retry reuses the idempotency key."
        ),
    )
    inbound_lease_seconds: float = Field(
        default=120.0,
        description=(
            "A raw inbound payload is reserved this long for the process working on it; "
            "after a crash the worker reprocesses it once the lease has expired."
        ),
    )
    config_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "How long a process uses its cached routing rules, SLA policies, inboxes and tenant settings "
            "before checking the tenant's configuration version again: a change made by another process "
            "is seen within this many seconds (0: checked on every use). The process that makes a change "
            "sees it at once."
        ),
    )
    inbound_rejections_per_minute: int = Field(
        default=30,
        ge=0,
        description=(
            "Webhook requests refused for their signature that are recorded per inbox and minute; "
            "past it they get 429 and nothing is written."
        ),
    )
    raw_retention_days: int = Field(
        default=30,
        ge=0,
        description=(
            "Processed raw inbound payloads are deleted after this many days (a tenant may set its own); 0 keeps them."
        ),
    )
    bus_url: str = Field(
        default="memory://",
        description="memory:// (one process), redis://host:6379/0 or nats://host:4222 (many processes).",
    )
    bus_subject: str = Field(
        default="raccordo.bus",
        min_length=1,
        max_length=200,
        description="Redis channel / NATS subject of the bus; give each deployment sharing a broker its own.",
    )
    embedded_worker: bool = Field(
        default=True,
        description=(
            "`serve` also runs the worker (outbox, timers); false when `raccordo worker` processes run separately."
        ),
    )
    worker_poll_seconds: float = Field(
        default=1.0, description="How often a worker looks for due work when no wake-up arrives."
    )
    presence_grace_seconds: float = Field(
        default=30.0, description="An agent whose connections all dropped becomes offline after this long."
    )
    ws_queue_size: int = Field(
        default=1000, description="Events waiting for one slow WebSocket client before it is disconnected."
    )
    ws_heartbeat_seconds: float = Field(default=20.0, description="Interval of server heartbeats on WebSockets.")
    ws_compression: bool = Field(
        default=True,
        description=(
            "permessage-deflate on WebSockets: less bandwidth, more server CPU per socket (see "
            "docs/configuration.md); turn off on a LAN or when the proxy compresses."
        ),
    )
    email_polling: bool = Field(
        default=True,
        description="Workers (embedded in `serve`, and `raccordo worker`) poll the IMAP mailboxes of email inboxes.",
    )
    email_idle_seconds: float = Field(
        default=300.0, description="Longest wait in IMAP IDLE before the mailbox is checked again (servers with IDLE)."
    )
    email_poll_seconds: float = Field(
        default=60.0, description="Wait between two checks of a mailbox whose server has no IDLE."
    )
    email_lease_seconds: float = Field(
        default=90.0,
        description=(
            "A worker polling a mailbox holds it this long, renewed while it works; another worker takes over after a "
            "crash."
        ),
    )
    email_scan_seconds: float = Field(
        default=30.0,
        description="How often a worker looks for email inboxes nobody polls (new inboxes, expired leases).",
    )
    email_fetch_batch: int = Field(default=50, description="Messages fetched from IMAP per round trip.")
    email_timeout_seconds: float = Field(default=30.0, description="Network timeout of one IMAP or SMTP step.")
    smtp_receiver_port: int = Field(
        default=0,
        description=(
            "Port of the SMTP receiver for forwarded mail (aiosmtpd) in `serve`/`raccordo worker`; 0 turns it off."
        ),
    )
    smtp_receiver_host: str = Field(
        default="127.0.0.1", description="Address the SMTP receiver listens on (0.0.0.0 for every interface)."
    )
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'raccordo.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated on first use and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
