"""The one retry loop: it does what the platform's interpreter says, whatever the platform."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.budget import Budget, Call, InMemoryBudgetBackend, Policy
from ledgersync.providers.retry import Action, Attempt, Resolution
from ledgersync.providers.session import PlatformSession
from ledgersync.providers.xero.client import xero_policies

from .fakes import MemoryTokenStore, Script, json_response

READ = Call("GET", "things")
WRITE = Call("POST", "things", is_write=True)


def error(code: ErrorCode, message: str = "refused") -> SyncError:
    return SyncError(code=code, message=message, hint="do something")


class ByStatus:
    """An interpreter that reads only the status: 2xx success, then a table; transport errors are unknown."""

    platform = "Testland"

    def __init__(self, table: dict[int, Resolution]) -> None:
        self.table = table
        self.seen: list[Attempt] = []

    def interpret(self, call: Call, outcome: httpx.Response | httpx.TransportError, attempt: Attempt) -> Resolution:
        self.seen.append(attempt)
        if isinstance(outcome, httpx.TransportError):
            if isinstance(outcome, httpx.ConnectError):
                return Resolution(Action.RETRY, error(ErrorCode.UNAVAILABLE, "unreachable"))
            return Resolution(Action.UNKNOWN_OUTCOME, error(ErrorCode.UNKNOWN_OUTCOME, "no answer"))
        if outcome.status_code < 300:
            return Resolution(Action.SUCCESS, data=outcome.json())
        return self.table[outcome.status_code]


class Renewer:
    def __init__(self) -> None:
        self.refreshes = 0

    def authorization_url(self, state: str) -> str:
        return ""

    def exchange(self, code: str) -> OAuthToken:
        raise NotImplementedError

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        return []

    def refresh(self, token: OAuthToken) -> OAuthToken:
        self.refreshes += 1
        return OAuthToken(f"fresh-{self.refreshes}", "rt", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


class Session(PlatformSession):
    def __init__(self, script: Script, interpreter: ByStatus, policies: tuple[Policy, ...] = xero_policies()) -> None:
        self.slept: list[float] = []
        clock = lambda: 1000 + sum(self.slept)  # noqa: E731 - one fake timeline for backoff and budget waits
        self.renewer = Renewer()
        self._init_session(
            MemoryTokenStore(),
            self.renewer,
            interpreter=interpreter,
            budget=Budget(
                policies, app="test", tenant="t1", backend=InMemoryBudgetBackend(clock=clock), sleep=self.slept.append
            ),
            max_attempts=4,
            max_retry_seconds=60,
            refresh_margin=60,
            backoff_base=1.0,
            backoff_cap=20,
            jitter=lambda: 0.0,
            sleep=self.slept.append,
            clock=clock,
            transport=script.transport(),
        )

    def go(self, call: Call = READ) -> object:
        return self._call(call, "http://api.test/things", params={}, content=b"{}", headers={"Idempotency-Key": "k1"})


OK = json_response(200, {"ok": True})


def test_success_returns_the_interpreted_data() -> None:
    session = Session(Script([OK]), ByStatus({}))
    assert session.go() == {"ok": True}


def test_retry_backs_off_with_growing_waits_then_succeeds() -> None:
    retry = Resolution(Action.RETRY, error(ErrorCode.UNAVAILABLE))
    session = Session(Script([json_response(503, {})] * 3 + [OK]), ByStatus({503: retry}))
    assert session.go() == {"ok": True}
    assert session.slept == [0.5, 1.0, 2.0]


def test_retry_after_from_the_platform_replaces_the_backoff() -> None:
    retry = Resolution(Action.RETRY, error(ErrorCode.UNAVAILABLE), retry_after=4.0)
    session = Session(Script([json_response(503, {}), OK]), ByStatus({503: retry}))
    session.go()
    assert session.slept == [4.0]


def test_retries_stop_after_max_attempts_with_the_last_error() -> None:
    retry = Resolution(Action.RETRY, error(ErrorCode.UNAVAILABLE))
    script = Script([json_response(503, {})] * 10)
    session = Session(script, ByStatus({503: retry}))
    with pytest.raises(ProviderError) as caught:
        session.go()
    assert caught.value.error.code is ErrorCode.UNAVAILABLE
    assert len(script.requests) == 4


def test_refresh_token_then_retry_renews_once_and_sends_the_new_token() -> None:
    refresh = Resolution(Action.REFRESH_TOKEN_THEN_RETRY, error(ErrorCode.AUTH_EXPIRED))
    script = Script([json_response(401, {}), OK])
    session = Session(script, ByStatus({401: refresh}))
    session.go()
    assert session.renewer.refreshes == 1
    assert script.requests[-1].headers["authorization"] == "Bearer fresh-1"
    assert session.slept == []


def test_a_second_refusal_after_renewing_fails_with_the_interpreters_error() -> None:
    refresh = Resolution(Action.REFRESH_TOKEN_THEN_RETRY, error(ErrorCode.AUTH_EXPIRED, "still refused"))
    session = Session(Script([json_response(401, {})] * 2), ByStatus({401: refresh}))
    with pytest.raises(ProviderError) as caught:
        session.go()
    assert caught.value.error.message == "still refused"
    assert session.renewer.refreshes == 1


def test_rate_limited_holds_the_budget_for_retry_after_and_sends_again() -> None:
    limited = Resolution(Action.RATE_LIMITED, error(ErrorCode.RATE_LIMITED), retry_after=7.0, problem="minute")
    session = Session(Script([json_response(429, {}), OK]), ByStatus({429: limited}))
    session.go()
    # The budget waited, not the loop: one wait of exactly Retry-After.
    assert session.slept == [7.0]


def test_rate_limited_beyond_the_retry_time_gives_up_without_sending_again() -> None:
    limited = Resolution(Action.RATE_LIMITED, error(ErrorCode.RATE_LIMITED), retry_after=600.0)
    script = Script([json_response(429, {})])
    session = Session(script, ByStatus({429: limited}))
    with pytest.raises(ProviderError) as caught:
        session.go()
    assert caught.value.error.code is ErrorCode.RATE_LIMITED
    assert len(script.requests) == 1


def test_unknown_outcome_resends_the_same_request_and_ends_unknown() -> None:
    script = Script([httpx.ReadTimeout("slow")] * 4)
    session = Session(script, ByStatus({}))
    with pytest.raises(ProviderError) as caught:
        session.go(WRITE)
    assert caught.value.error.code is ErrorCode.UNKNOWN_OUTCOME
    assert {r.headers["idempotency-key"] for r in script.requests} == {"k1"}
    assert len(script.requests) == 4


def test_after_an_unknown_outcome_the_interpreter_is_told_and_the_last_error_is_unconfirmed() -> None:
    retry = Resolution(Action.RETRY, error(ErrorCode.UNAVAILABLE))
    interpreter = ByStatus({503: retry})
    session = Session(Script([httpx.ReadTimeout("slow")] + [json_response(503, {})] * 3), interpreter)
    with pytest.raises(ProviderError) as caught:
        session.go(WRITE)
    assert [a.outcome_unknown for a in interpreter.seen] == [False, True, True, True]
    assert caught.value.error.code is ErrorCode.UNKNOWN_OUTCOME
    assert "Testland did not confirm" in caught.value.error.message


def test_a_definitive_answer_after_an_unknown_outcome_is_the_answer() -> None:
    fail = Resolution(Action.FAIL, error(ErrorCode.VALIDATION))
    session = Session(Script([httpx.ReadTimeout("slow"), json_response(400, {})]), ByStatus({400: fail}))
    with pytest.raises(ProviderError) as caught:
        session.go(WRITE)
    assert caught.value.error.code is ErrorCode.VALIDATION


def test_fail_raises_its_error_at_once() -> None:
    fail = Resolution(Action.FAIL, error(ErrorCode.DUPLICATE_NAME))
    script = Script([json_response(400, {})])
    session = Session(script, ByStatus({400: fail}))
    with pytest.raises(ProviderError) as caught:
        session.go()
    assert caught.value.error.code is ErrorCode.DUPLICATE_NAME
    assert len(script.requests) == 1 and session.slept == []


def test_daily_limit_raises_at_once_and_parks_every_later_call() -> None:
    parked = Resolution(Action.DAILY_LIMIT, error(ErrorCode.DAILY_LIMIT), retry_after=5000.0, problem="day")
    script = Script([json_response(429, {})])
    session = Session(script, ByStatus({429: parked}))
    with pytest.raises(ProviderError) as caught:
        session.go()
    assert caught.value.error.code is ErrorCode.DAILY_LIMIT
    with pytest.raises(ProviderError) as again:
        session.go()
    assert again.value.error.code is ErrorCode.DAILY_LIMIT
    assert again.value.error.retry_after == pytest.approx(5000.0)
    assert len(script.requests) == 1 and session.slept == []


def test_every_attempt_holds_a_place_in_the_budget() -> None:
    retry = Resolution(Action.RETRY, error(ErrorCode.UNAVAILABLE))
    session = Session(Script([json_response(503, {}), OK]), ByStatus({503: retry}), xero_policies(per_minute=10))
    session.go()
    assert session.budget.usage("minute") == 2
    assert session.budget.usage("concurrent") == 0
