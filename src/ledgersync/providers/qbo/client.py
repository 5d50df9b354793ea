"""HTTP client for one QuickBooks Online company: tokens, pacing, requestid idempotency, bounded retries, faults."""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import CallInfo, TokenStore
from ledgersync.providers.pacing import Budget, Limits, MovingWindowPacer
from ledgersync.providers.qbo.errors import (
    RECONNECT_HINT,
    fault_error,
    response_error,
    retry_after_seconds,
    transport_error,
)
from ledgersync.providers.qbo.mapping import MINOR_VERSION, dumps
from ledgersync.providers.qbo.oauth import QboOAuth
from ledgersync.providers.session import PlatformSession

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 500/502/504 answer to a write may come after QBO saved it; 503 means it did not take the request.
_AMBIGUOUS_WRITE_STATUSES = frozenset({500, 502, 504})
MAX_REQUEST_ID = 50
MAX_BATCH_REQUEST_ID = 36

# Intuit's published throttles per company (realm) and app: 500 requests a minute, 10 at once, and 40 batch
# requests a minute. There is no daily cap (the partner programme's monthly one is a business matter).
QBO_LIMITS = Limits(concurrent=10, per_minute=500, per_day=10**9, app_per_minute=10**9, max_wait=90.0)
QBO_BATCH_LIMITS = Limits(concurrent=10, per_minute=40, per_day=10**9, app_per_minute=10**9, max_wait=90.0)


def request_id_for(keys: Sequence[str], limit: int = MAX_REQUEST_ID) -> str:
    """One `requestid` for a call carrying these writes' idempotency keys.

    QBO replays the first answer to a repeated requestid instead of running it again, so the same writes
    in the same order must always give the same id; it must fit 50 characters (36 for a batch)."""
    if len(keys) == 1 and len(keys[0]) <= limit and keys[0].replace("-", "").isalnum():
        return keys[0]
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    return f"ls{digest}"[: min(limit, MAX_BATCH_REQUEST_ID)]


class QboClient(PlatformSession):
    """Calls to the QuickBooks Online Accounting API for one company (realm). Thread-safe; one per connection.

    Every call goes through the company's pacer and the TokenStore; it refreshes the access token shortly
    before expiry and once on a 401, retries transient failures a bounded number of times within a bounded
    total time (a write always with the same requestid), and turns failures and Faults into ProviderErrors
    carrying canonical SyncErrors."""

    def __init__(
        self,
        realm_id: str,
        tokens: TokenStore,
        oauth: QboOAuth,
        *,
        pacer: Budget | None = None,
        batch_pacer: Budget | None = None,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        max_attempts: int = 4,
        max_retry_seconds: float = 75.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        refresh_margin: float = 60.0,
        throttle_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        on_call: Callable[[CallInfo], None] | None = None,
    ) -> None:
        self.realm_id = realm_id
        self.company_url = f"{oauth.endpoints.api}/company/{realm_id}"
        self.pacer: Budget = pacer or MovingWindowPacer(QBO_LIMITS)
        self.batch_pacer: Budget = batch_pacer or MovingWindowPacer(QBO_BATCH_LIMITS)
        self.max_attempts = max(1, max_attempts)
        self.max_retry_seconds = max_retry_seconds
        self._init_session(
            tokens,
            oauth,
            refresh_margin=refresh_margin,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            jitter=jitter,
            http=http,
            transport=transport,
            timeout=timeout,
            on_call=on_call,
        )
        # How long to hold this company's calls after a 429 without Retry-After (Intuit: 60 s).
        self.throttle_wait = throttle_wait
        self._sleep = sleep
        self._clock = clock

    # ------------------------------------------------------------ calls

    def query(self, statement: str) -> dict[str, Any]:
        """Run one query-language statement; returns its QueryResponse (empty when nothing matched)."""
        data = self.request("GET", "query", params={"query": statement}) or {}
        response = data.get("QueryResponse")
        return dict(response) if isinstance(response, Mapping) else {}

    def read(self, entity_name: str, remote_id: str) -> dict[str, Any] | None:
        """One object by Id, or None when QBO has no such object."""
        try:
            data = self.request("GET", f"{entity_name.lower()}/{remote_id}", allow_not_found=True)
        except ProviderError as exc:
            if exc.error.code is ErrorCode.NOT_FOUND:
                return None
            raise
        found = (data or {}).get(entity_name)
        return dict(found) if isinstance(found, Mapping) else None

    def write(
        self,
        path: str,
        body: Any,
        *,
        request_id: str,
        params: Mapping[str, str] | None = None,
        batch: bool = False,
    ) -> Any:
        return self.request("POST", path, params=params, body=body, request_id=request_id, batch=batch)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        request_id: str | None = None,
        batch: bool = False,
        allow_not_found: bool = False,
    ) -> Any:
        """Send one call and return its parsed JSON (None for an allowed 404 or an empty body).

        A Fault in a 200 answer is raised like any refusal; the per-item Faults of a batch are returned."""
        self._raise_if_disconnected()
        is_write = method.upper() == "POST" and path != "query"
        if is_write and not request_id:
            raise ValueError("every QuickBooks write needs a requestid")
        send_params = {**(params or {}), "minorversion": MINOR_VERSION}
        if request_id:
            send_params["requestid"] = request_id[: MAX_BATCH_REQUEST_ID if batch else MAX_REQUEST_ID]
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        if body is not None:
            content = dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = f"{self.company_url}/{path.lstrip('/')}"

        started = self._clock()
        attempt = 0
        refreshed_after_401 = False
        outcome_unknown = False
        slept = 0.0
        while True:
            attempt += 1
            pacer_waits = False
            token = self._token()
            try:
                with self._slots(batch):
                    response = self._send(
                        method,
                        path,
                        url,
                        params=send_params,
                        content=content,
                        headers={**headers, "Authorization": f"Bearer {token.access_token}"},
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never reached QBO: safe to retry, nothing to reconcile.
                failure: ProviderError = transport_error(exc, outcome_unknown=outcome_unknown)
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                # Timed out or dropped after sending: a write may have been saved. Repeating the same requestid
                # is QBO's documented way to get the first answer without running it twice.
                outcome_unknown = outcome_unknown or is_write
                failure = transport_error(exc, outcome_unknown=outcome_unknown)
                delay = self._backoff(attempt)
            else:
                self.pacer.observe(response.headers)
                status = response.status_code
                if status == 401 and not refreshed_after_401:
                    refreshed_after_401 = True
                    self._refresh(token)
                    attempt -= 1
                    continue
                if status < 400 or (status == 404 and allow_not_found):
                    if status == 404:
                        return None
                    data = self._parse(response)
                    fault = data.get("Fault") if isinstance(data, Mapping) else None
                    if isinstance(fault, Mapping):
                        raise ProviderError(fault_error(fault, status))
                    return data
                body_json = self._parse_quietly(response)
                if status == 401:
                    raise ProviderError(
                        SyncError(
                            code=ErrorCode.AUTH_EXPIRED,
                            message="QuickBooks refused this connection's sign-in even after renewing it.",
                            hint=RECONNECT_HINT,
                            platform_code="401",
                            platform_message=_first_text(body_json),
                        )
                    )
                if status == 429:
                    # Intuit says to wait 60 seconds; the pacer holds every call of this company that long.
                    retry_after = retry_after_seconds(response.headers, self.throttle_wait)
                    self.pacer.penalise(retry_after, None)
                    failure = ProviderError(response_error(response, body_json, is_write=is_write))
                    delay = retry_after
                    pacer_waits = True
                elif status in RETRY_STATUSES:
                    if is_write and status in _AMBIGUOUS_WRITE_STATUSES:
                        outcome_unknown = True
                    failure = ProviderError(response_error(response, body_json, is_write=is_write))
                    delay = self._backoff(attempt)
                else:
                    # 400 and friends: QBO answered definitively, so an earlier unknown outcome is resolved.
                    raise ProviderError(response_error(response, body_json, is_write=is_write))
            elapsed = max(self._clock() - started, slept)
            if attempt >= self.max_attempts or elapsed + delay > self.max_retry_seconds:
                if outcome_unknown and failure.error.code is not ErrorCode.UNKNOWN_OUTCOME:
                    raise ProviderError(
                        failure.error.model_copy(
                            update={
                                "code": ErrorCode.UNKNOWN_OUTCOME,
                                "message": "QuickBooks did not confirm the change, so we don't know whether it "
                                "was saved.",
                                "hint": "It is checked in QuickBooks before being retried; nothing needs doing.",
                            }
                        )
                    ) from failure
                raise failure
            if not pacer_waits:
                self._sleep(delay)
            slept += delay

    @contextlib.contextmanager
    def _slots(self, batch: bool) -> Iterator[None]:
        # A batch counts against both budgets; the batch one is always taken first, so two calls never
        # hold one each while waiting for the other.
        with contextlib.ExitStack() as stack:
            if batch:
                stack.enter_context(self.batch_pacer.acquire())
            stack.enter_context(self.pacer.acquire())
            yield

    def _request_id(self, response: httpx.Response | None, params: dict[str, str]) -> str | None:
        found = response.headers.get("intuit_tid") if response is not None else None
        return found or params.get("requestid")


def _first_text(body: Any) -> str | None:
    if isinstance(body, Mapping):
        fault = body.get("Fault")
        if isinstance(fault, Mapping):
            return fault_error(fault).platform_message
        for key in ("Detail", "Message", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return body if isinstance(body, str) else None
