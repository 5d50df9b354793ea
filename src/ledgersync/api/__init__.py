"""REST API (FastAPI, /v1), its service layer shared with the dashboard, and the in-process scheduler."""

from ledgersync.api.app import create_app
from ledgersync.api.auth import issue_key
from ledgersync.api.scheduler import Scheduler
from ledgersync.api.settings import ApiSettings

__all__ = ["ApiSettings", "Scheduler", "create_app", "issue_key"]
