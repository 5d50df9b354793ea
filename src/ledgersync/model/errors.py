"""Canonical sync errors: what went wrong, in plain words, and which fixes fit it."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field


class ErrorCode(enum.StrEnum):
    DUPLICATE_NAME = "duplicate_name"
    DUPLICATE_NUMBER = "duplicate_number"
    DOCUMENT_LOCKED = "document_locked"
    OVERPAYMENT = "overpayment"
    ARCHIVED_CONTACT = "archived_contact"
    INVALID_CHARACTERS = "invalid_characters"
    MISSING_DEPENDENCY = "missing_dependency"
    NOT_FOUND = "not_found"
    VALIDATION = "validation"
    RATE_LIMITED = "rate_limited"
    DAILY_LIMIT = "daily_limit"
    UNAVAILABLE = "unavailable"
    UNKNOWN_OUTCOME = "unknown_outcome"
    AUTH_EXPIRED = "auth_expired"
    AUTH_REVOKED = "auth_revoked"
    CONFLICT = "conflict"
    # Edited on both sides since the last sync, and the conflict policy could not say which edit stays.
    EDIT_CONFLICT = "edit_conflict"
    # The app's copy and the platform's differ although both were synced (found by `verify`).
    DRIFTED = "drifted"
    # A code (account, tax) the platform does not know: the connection's code map must name one it has.
    UNKNOWN_CODE = "unknown_code"


TRANSIENT = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.UNKNOWN_OUTCOME, ErrorCode.DAILY_LIMIT})
AUTH = frozenset({ErrorCode.AUTH_EXPIRED, ErrorCode.AUTH_REVOKED})


class Action(enum.StrEnum):
    """The fixes a person can apply to a failed record."""

    RETRY = "retry"
    EDIT = "edit"
    SKIP = "skip"
    MERGE = "merge"
    LINK = "link"
    EXCLUDE = "exclude"
    RECORD_CREDIT = "record_credit"
    RECONNECT = "reconnect"
    RESTORE = "restore"
    # A record changed on both sides (conflict) or found different (drifted): which version stays.
    KEEP_APP = "keep_app"
    KEEP_PLATFORM = "keep_platform"


ACTIONS: dict[ErrorCode, tuple[Action, ...]] = {
    ErrorCode.DUPLICATE_NAME: (Action.EDIT, Action.MERGE, Action.LINK, Action.SKIP),
    ErrorCode.DUPLICATE_NUMBER: (Action.EDIT, Action.LINK, Action.SKIP),
    ErrorCode.DOCUMENT_LOCKED: (Action.RETRY, Action.SKIP),
    ErrorCode.OVERPAYMENT: (Action.RECORD_CREDIT, Action.EDIT, Action.SKIP),
    ErrorCode.ARCHIVED_CONTACT: (Action.RESTORE, Action.LINK, Action.RETRY, Action.SKIP),
    ErrorCode.INVALID_CHARACTERS: (Action.EDIT, Action.SKIP),
    ErrorCode.MISSING_DEPENDENCY: (Action.RETRY, Action.SKIP),
    ErrorCode.NOT_FOUND: (Action.RETRY, Action.LINK, Action.SKIP),
    ErrorCode.VALIDATION: (Action.EDIT, Action.RETRY, Action.SKIP),
    ErrorCode.RATE_LIMITED: (Action.RETRY,),
    ErrorCode.DAILY_LIMIT: (Action.RETRY,),
    ErrorCode.UNAVAILABLE: (Action.RETRY,),
    ErrorCode.UNKNOWN_OUTCOME: (Action.RETRY,),
    ErrorCode.AUTH_EXPIRED: (Action.RECONNECT,),
    ErrorCode.AUTH_REVOKED: (Action.RECONNECT,),
    ErrorCode.CONFLICT: (Action.RETRY, Action.SKIP),
    ErrorCode.EDIT_CONFLICT: (Action.KEEP_APP, Action.KEEP_PLATFORM, Action.SKIP),
    ErrorCode.DRIFTED: (Action.KEEP_APP, Action.KEEP_PLATFORM, Action.SKIP),
    ErrorCode.UNKNOWN_CODE: (Action.EDIT, Action.RETRY, Action.SKIP),
}


class SyncError(BaseModel):
    """One failure, carrying the platform's own words beside ours."""

    model_config = ConfigDict(frozen=True)

    code: ErrorCode
    message: str = Field(description="What happened, in plain words")
    hint: str = Field(default="", description="What to do about it")
    platform_code: str | None = None
    platform_message: str | None = None
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT

    @property
    def actions(self) -> tuple[Action, ...]:
        return ACTIONS.get(self.code, (Action.RETRY, Action.SKIP))


class ProviderError(Exception):
    """A call failed as a whole (not one element of a batch): auth, rate limit, outage, unknown outcome."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(f"{error.code.value}: {error.message}")
        self.error = error
