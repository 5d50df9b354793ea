"""What every platform client shares: the connection's token with single-flight refresh, the stop after a
refused refresh, the rate budget, and the one retry loop that sends a call until its platform's error
interpreter says it is done."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import certifi
import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import CallInfo, OAuthFlow, OAuthToken, TokenStore
from ledgersync.providers.budget import DAY, Budget, Call
from ledgersync.providers.retry import Action, Attempt, ErrorInterpreter, unconfirmed


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's default: certifi's CA bundle) for every platform client: loading the bundle
    takes tens of milliseconds, which every cycle's new provider paid again. A context is safe to share."""
    return ssl.create_default_context(cafile=certifi.where())


def loads_exact(content: bytes | str) -> Any:
    """Parse a platform's JSON without ever passing money through float."""
    return json.loads(content, parse_float=Decimal)


def dumps_exact(value: Any) -> str:
    """JSON with Decimals written as exact numbers (json.dumps would refuse them or go through float), dates as
    ISO text. Byte for byte what json.dumps writes for everything else (ASCII-escaped strings, compact
    separators), but without a json.dumps call per value: a 50-invoice request body has thousands of them."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _encode(value: Any, put: Callable[[str], Any]) -> None:
    if isinstance(value, str):
        put(_quote(value))
    elif value is None:
        put("null")
    elif value is True:
        put("true")
    elif value is False:
        put("false")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        put(format(value, "f"))
    elif isinstance(value, Mapping):
        put("{")
        first = True
        for k, v in value.items():
            if not first:
                put(",")
            first = False
            put(_quote(str(k)))
            put(":")
            _encode(v, put)
        put("}")
    elif isinstance(value, list | tuple):
        put("[")
        for i, v in enumerate(value):
            if i:
                put(",")
            _encode(v, put)
        put("]")
    elif isinstance(value, dt.date):  # a datetime too
        put(_quote(value.isoformat()))
    else:  # int, float: json's own text for them (a bool was taken above)
        put(json.dumps(value))


_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii


def parse_body(response: httpx.Response) -> Any:
    """A response's JSON (None when empty); a file's bytes (an attachment read back) as bytes."""
    if not response.content:
        return None
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and "json" not in media and "xml" not in media and not media.startswith("text/"):
        return response.content
    return loads_exact(response.content)


def parse_body_quietly(response: httpx.Response) -> Any:
    """A refusal's body: its JSON, else its text (error pages are not always JSON)."""
    try:
        return loads_exact(response.content) if response.content else None
    except ValueError:
        return response.text


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class PlatformSession:
    """Base of the platform clients. Subclasses call `_init_session` with their error interpreter and budget,
    build each request, and send it with `_call`; they name the platform's request id in `_request_id`."""

    tokens: TokenStore
    oauth: OAuthFlow
    interpreter: ErrorInterpreter
    budget: Budget
    max_attempts: int
    max_retry_seconds: float
    refresh_margin: float
    backoff_base: float
    backoff_cap: float
    _jitter: Callable[[], float]
    _sleep: Callable[[float], None]
    _clock: Callable[[], float]
    on_call: Callable[[CallInfo], None] | None
    http: httpx.Client

    def _init_session(
        self,
        tokens: TokenStore,
        oauth: OAuthFlow,
        *,
        interpreter: ErrorInterpreter,
        budget: Budget,
        max_attempts: int,
        max_retry_seconds: float,
        refresh_margin: float,
        backoff_base: float,
        backoff_cap: float,
        jitter: Callable[[], float] = random.random,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        on_call: Callable[[CallInfo], None] | None = None,
    ) -> None:
        self.on_call = on_call
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout, transport=transport, verify=tls_context())
        self.tokens = tokens
        self.oauth = oauth
        self.interpreter = interpreter
        self.budget = budget
        self.max_attempts = max(1, max_attempts)
        self.max_retry_seconds = max_retry_seconds
        self.refresh_margin = refresh_margin
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._jitter = jitter
        self._sleep = sleep
        self._clock = clock
        self._dead_lock = threading.Lock()
        self._dead: SyncError | None = None

    def _do_refresh(self, stale: OAuthToken) -> OAuthToken:
        return self.oauth.refresh(stale)

    def _refresh(self, stale: OAuthToken) -> OAuthToken:
        """Refresh through the TokenStore (one refresh however many callers); a refusal disconnects."""
        try:
            return self.tokens.refresh(stale, self._do_refresh)
        except ProviderError as exc:
            if exc.error.code is ErrorCode.AUTH_REVOKED:
                self._disconnect(exc.error)
            raise

    def _disconnect(self, error: SyncError) -> None:
        with self._dead_lock:
            first = self._dead is None
            self._dead = self._dead or error
        if first:
            self.tokens.mark_needs_reconnect(error.platform_message or error.message)

    def _raise_if_disconnected(self) -> None:
        # After a refused refresh no further call goes out: the connection needs a person to reconnect.
        if self._dead is not None:
            raise ProviderError(self._dead)

    def _token(self) -> OAuthToken:
        token = self.tokens.load()
        if token.expires_within(self.refresh_margin):
            token = self._refresh(token)
        return token

    def _credentials(self) -> tuple[OAuthToken | None, dict[str, str]]:
        """The headers that authenticate one attempt and the token they carry. A platform that takes fixed keys
        instead of tokens (DEAR's account id and application key) overrides this and returns no token, so a
        refusal is never answered with a refresh."""
        token = self._token()
        return token, {"Authorization": f"Bearer {token.access_token}"}

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * float(2 ** (attempt - 1)))
        # Equal jitter: never less than half the step, so retries still back off, but spread across workers.
        return ceiling / 2 + self._jitter() * ceiling / 2

    # -- the retry loop ---------------------------------------------------------------------------------
    def _call(
        self,
        call: Call,
        url: str,
        *,
        params: dict[str, str],
        content: bytes | None,
        headers: dict[str, str],
    ) -> Any:
        """Send `call` until the interpreter says it is done, within `max_attempts` and `max_retry_seconds`;
        return the data of the answer or raise its ProviderError. Every attempt carries the same body and
        headers, so a write goes again with the same idempotency key."""
        self._raise_if_disconnected()
        started = self._clock()
        attempt = 0
        refreshed = False
        outcome_unknown = False
        slept = 0.0
        while True:
            attempt += 1
            token, auth = self._credentials()
            outcome: httpx.Response | httpx.TransportError
            with self.budget.slot(call) as reservation:
                try:
                    outcome = self._send(
                        call.method,
                        call.path,
                        url,
                        params=params,
                        content=content,
                        headers={**headers, **auth},
                    )
                except httpx.TransportError as exc:
                    outcome = exc
            if isinstance(outcome, httpx.Response):
                self.budget.observe(outcome.headers, as_of=reservation.started)
            resolution = self.interpreter.interpret(call, outcome, Attempt(attempt, outcome_unknown))
            action = resolution.action
            if action is Action.SUCCESS:
                return resolution.data
            failure = resolution.error or _unexplained(self.interpreter.platform, outcome)
            if action is Action.REFRESH_TOKEN_THEN_RETRY:
                if refreshed or token is None:
                    raise ProviderError(failure)
                refreshed = True
                self._refresh(token)
                attempt -= 1
                continue
            if action is Action.FAIL:
                # A definitive answer: an earlier unknown outcome is resolved by it.
                raise ProviderError(failure)
            if action is Action.DAILY_LIMIT:
                self.budget.penalise(
                    resolution.retry_after if resolution.retry_after is not None else DAY, resolution.problem or "day"
                )
                raise ProviderError(failure)
            budget_waits = action is Action.RATE_LIMITED
            if budget_waits:
                delay = resolution.retry_after if resolution.retry_after is not None else self._backoff(attempt)
                # The budget now holds every call of this connection for that long; waiting here too would
                # double it. `delay` still counts against the retry time budget.
                self.budget.penalise(delay, resolution.problem)
            else:
                outcome_unknown = outcome_unknown or action is Action.UNKNOWN_OUTCOME
                delay = resolution.retry_after if resolution.retry_after is not None else self._backoff(attempt)
            elapsed = max(self._clock() - started, slept)
            if attempt >= self.max_attempts or elapsed + delay > self.max_retry_seconds:
                if outcome_unknown and failure.code is not ErrorCode.UNKNOWN_OUTCOME:
                    raise ProviderError(unconfirmed(self.interpreter.platform, failure)) from ProviderError(failure)
                raise ProviderError(failure)
            if not budget_waits:
                self._sleep(delay)
            slept += delay

    # -- one call ---------------------------------------------------------------------------------------
    def _request_id(self, response: httpx.Response | None, params: dict[str, str]) -> str | None:
        """The id the platform (or our request) gives this call, for the event log."""
        return None

    def _send(
        self,
        method: str,
        path: str,
        url: str,
        *,
        params: dict[str, str],
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, params=params, content=content, headers=headers)
        except httpx.TransportError as exc:
            self._report(
                CallInfo(
                    method,
                    path,
                    None,
                    elapsed_ms(started),
                    request_id=self._request_id(None, params),
                    error=type(exc).__name__,
                )
            )
            raise
        self._report(
            CallInfo(
                method,
                path,
                response.status_code,
                elapsed_ms(started),
                request_id=self._request_id(response, params),
            )
        )
        return response

    def _report(self, info: CallInfo) -> None:
        if self.on_call is not None:
            # The event log must never break a sync.
            with contextlib.suppress(Exception):
                self.on_call(info)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


def _unexplained(platform: str, outcome: httpx.Response | httpx.TransportError) -> SyncError:
    # An interpreter that asks for a retry or a failure without saying why still leaves a readable error.
    what = f"HTTP {outcome.status_code}" if isinstance(outcome, httpx.Response) else type(outcome).__name__
    return SyncError(
        code=ErrorCode.UNAVAILABLE,
        message=f"{platform} could not complete the call ({what}).",
        hint="This retries by itself; nothing needs doing.",
        platform_code=what,
    )
