"""Settings of the REST API process: scheduler cadence, webhook retries, secrets, and the security limits."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field

from ledgersync.store.database import private_dir, state_dir

__all__ = ["ApiSettings", "state_dir"]


def _secret_from_file(path: Path) -> str:
    """Read a generated secret, creating it (owner-only) on first use so restarts keep sessions valid."""
    if path.exists():
        return path.read_text().strip()
    private_dir(path.parent)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def _csv(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class ApiSettings(BaseModel):
    """Everything the API, its scheduler and (through `session_secret`) the dashboard need to know."""

    # Signs the dashboard's session cookies (LEDGERSYNC_SESSION_SECRET, or a generated key file).
    session_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)
    # Bearer token allowed to create organisations (LEDGERSYNC_ADMIN_TOKEN, or a generated key file).
    admin_token: str | None = Field(default=None, repr=False)
    # Where the OAuth callback sends the person's browser once the connection is made.
    dashboard_url: str = "/"
    # Scheduler: sync every connected connection this often; look for webhooks to send this often.
    sync_every_seconds: float = Field(default=300.0, gt=0)
    deliver_every_seconds: float = Field(default=2.0, gt=0)
    # Outbound webhooks: attempt n waits base * factor**(n-1) seconds (capped) after a failure.
    webhook_backoff_base: float = Field(default=5.0, ge=0)
    webhook_backoff_factor: float = Field(default=4.0, ge=1)
    webhook_backoff_max: float = Field(default=6 * 3600.0, ge=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_timeout: float = Field(default=10.0, gt=0)
    # Inbound platform webhooks: how long a targeted refresh waits for a connection busy syncing.
    refresh_wait_seconds: float = Field(default=60.0, ge=0)
    # An inbound event (by its id, else the digest of its signed body) is acted on once in this window: a
    # week, far longer than the platforms' retry schedules (hours); older events are ignored as stale.
    inbound_dedupe_seconds: float = Field(default=7 * 86400.0, gt=0)

    # -- security (issue 9) ------------------------------------------------------------------------------
    # Outbound webhooks may reach loopback, private, link-local and other non-public addresses only when the
    # operator allows it for local development (LEDGERSYNC_ALLOW_PRIVATE_URLS=1; the demo and the tests do).
    allow_private_urls: bool = False
    # A connection's `base_url` (where its platform calls go) is the operator's: over the API it is accepted
    # only when it matches one of these (LEDGERSYNC_ALLOW_BASE_URLS, comma-separated origins such as
    # http://127.0.0.1:8765; `*` as the port allows any port of that host, for local sandboxes).
    allowed_base_urls: list[str] = Field(default_factory=list)
    # Request bodies above this answer 413 before they are read in full (a sane record is a few KiB).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # An attachment's bytes (PUT .../attachments/{filename}) may be larger: up to the largest file a platform
    # takes (QuickBooks Online's 100 MB); each platform's own limit is checked after (LEDGERSYNC_MAX_FILE_BYTES).
    max_file_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (LEDGERSYNC_TRUSTED_PROXIES: IPs or
    # networks); from anyone else those headers are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Dashboard sessions end after this long without a request, and this long after sign-in regardless.
    session_idle_seconds: float = Field(default=3600.0, gt=0)
    session_max_seconds: float = Field(default=12 * 3600.0, gt=0)
    # Sign-in throttling: after `free` failures an account (or a client address) must wait base * 2**k
    # seconds (k = failures beyond the free ones), capped; failures are forgotten after the window.
    signin_free_failures: int = Field(default=5, ge=1)
    signin_address_free_failures: int = Field(default=20, ge=1)
    signin_delay_base: float = Field(default=15.0, gt=0)
    signin_delay_max: float = Field(default=3600.0, gt=0)
    signin_window_seconds: float = Field(default=24 * 3600.0, gt=0)

    @classmethod
    def from_env(cls, database_url: str | None = None, **overrides: object) -> ApiSettings:
        """Secrets from the environment, else from key files beside the database (created once)."""
        where = state_dir(database_url)
        session = os.environ.get("LEDGERSYNC_SESSION_SECRET") or _secret_from_file(where / "session.key")
        admin = os.environ.get("LEDGERSYNC_ADMIN_TOKEN") or _secret_from_file(where / "admin.token")
        values: dict[str, object] = {"session_secret": session, "admin_token": admin}
        if os.environ.get("LEDGERSYNC_DASHBOARD_URL"):
            values["dashboard_url"] = os.environ["LEDGERSYNC_DASHBOARD_URL"]
        if os.environ.get("LEDGERSYNC_SYNC_EVERY"):
            values["sync_every_seconds"] = float(os.environ["LEDGERSYNC_SYNC_EVERY"])
        if _flag("LEDGERSYNC_ALLOW_PRIVATE_URLS"):
            values["allow_private_urls"] = True
        if _csv("LEDGERSYNC_ALLOW_BASE_URLS"):
            values["allowed_base_urls"] = _csv("LEDGERSYNC_ALLOW_BASE_URLS")
        if _csv("LEDGERSYNC_TRUSTED_PROXIES"):
            values["trusted_proxies"] = _csv("LEDGERSYNC_TRUSTED_PROXIES")
        if os.environ.get("LEDGERSYNC_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(os.environ["LEDGERSYNC_MAX_BODY_BYTES"])
        if os.environ.get("LEDGERSYNC_MAX_FILE_BYTES"):
            values["max_file_bytes"] = int(os.environ["LEDGERSYNC_MAX_FILE_BYTES"])
        values.update(overrides)
        return cls.model_validate(values)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return float(
            min(self.webhook_backoff_max, self.webhook_backoff_base * self.webhook_backoff_factor ** (attempts - 1))
        )
