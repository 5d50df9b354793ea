"""Settings of the REST API process: dashboard redirect, scheduler cadence, outbound webhook retries, secrets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy.engine import make_url


def state_dir(database_url: str | None) -> Path:
    """Where generated secrets live: next to a SQLite file, else in `.ledgersync/`."""
    if database_url:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).resolve().parent
    return Path(".ledgersync").resolve()


def _secret_from_file(path: Path) -> str:
    """Read a generated secret, creating it (owner-only) on first use so restarts keep sessions valid."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


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
        values.update(overrides)
        return cls.model_validate(values)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return float(
            min(self.webhook_backoff_max, self.webhook_backoff_base * self.webhook_backoff_factor ** (attempts - 1))
        )
