"""Rate limits (concurrent, minute, day, app-minute), injected faults, idempotency and counters."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .conftest import Sandbox


def _limits(xs: Sandbox, **kw: int) -> None:
    base = {"concurrent": 50, "minute": 1000, "day": 100000, "app_minute": 100000}
    xs.control("PUT", "/config", {"rate_limits": {**base, **kw}})


@pytest.mark.parametrize(
    ("limit", "problem"), [("minute", "minute"), ("day", "day"), ("app_minute", "appminute")]
)
def test_windowed_limits(ready: Sandbox, limit: str, problem: str) -> None:
    _limits(ready, **{limit: 3})
    codes = [ready.api("GET", "Contacts") for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    r = codes[-1]
    assert r.headers["X-Rate-Limit-Problem"] == problem and int(r.headers["Retry-After"]) >= 1
    header = {
        "minute": "X-MinLimit-Remaining",
        "day": "X-DayLimit-Remaining",
        "app_minute": "X-AppMinLimit-Remaining",
    }[limit]
    assert [c.headers[header] for c in codes[:3]] == ["2", "1", "0"]
    assert ready.control("GET", "/counters").json()["rate_limited"][problem] == 1


def test_app_minute_spans_tenants(ready: Sandbox) -> None:
    second = ready.add_tenant("Second Org")
    ready.authorize(tenants=[ready.tenant_id, second])
    tok = ready.authorize(tenants=[ready.tenant_id, second])
    ready.tokens = tok
    _limits(ready, app_minute=2)
    assert ready.api("GET", "Contacts").status_code == 200
    assert ready.api("GET", "Contacts", headers={"xero-tenant-id": second}).status_code == 200
    r = ready.api("GET", "Contacts", headers={"xero-tenant-id": second})
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "appminute"


def test_concurrent_limit(ready: Sandbox) -> None:
    _limits(ready, concurrent=2)
    ready.control("PUT", "/faults", {"latency_ms": 300})

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as c:
            rs = await asyncio.gather(
                *[c.get(f"{ready.url}/api.xro/2.0/Contacts", headers=ready.headers()) for _ in range(4)]
            )
        return sorted(r.status_code for r in rs)

    assert asyncio.run(burst()) == [200, 200, 429, 429]
    assert ready.control("GET", "/counters").json()["rate_limited"]["concurrent"] == 2


@pytest.mark.parametrize("code", ["429", "500", "503"])
def test_error_faults_commit_nothing(ready: Sandbox, code: str) -> None:
    ready.control("PUT", "/faults", {"error_rates": {code: 1.0}})
    r = ready.api("PUT", "Contacts", {"Name": "Ghost"})
    assert r.status_code == int(code)
    ready.control("DELETE", "/faults")
    assert ready.dump()["Contacts"] == []
    assert ready.control("GET", "/counters").json()["faults"][code] == 1


def test_timeout_after_commit_then_idempotent_retry(ready: Sandbox) -> None:
    ready.control("PUT", "/faults", {"timeout_after_commit_rate": 1.0, "hang_seconds": 2.0})
    key = {"Idempotency-Key": "abc-1"}
    with pytest.raises(httpx.ReadTimeout):
        ready.api("PUT", "Contacts", {"Name": "Once"}, headers=key, timeout=0.5)
    ready.control("DELETE", "/faults")
    assert [c["Name"] for c in ready.dump()["Contacts"]] == ["Once"]
    again = ready.api("PUT", "Contacts", {"Name": "Once"}, headers=key)
    assert again.status_code == 200 and len(ready.dump()["Contacts"]) == 1
    assert ready.control("GET", "/counters").json()["faults"]["timeout_after_commit"] == 1


def test_drop_after_commit(ready: Sandbox) -> None:
    ready.control("PUT", "/faults", {"drop_after_commit_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        ready.api("PUT", "Contacts", {"Name": "Dropped"})
    ready.control("DELETE", "/faults")
    assert [c["Name"] for c in ready.dump()["Contacts"]] == ["Dropped"]
    assert ready.control("GET", "/counters").json()["faults"]["drop_after_commit"] == 1


def test_idempotency_replays_byte_for_byte_and_waits_for_in_flight(ready: Sandbox) -> None:
    h = {"Idempotency-Key": "k-42"}
    first = ready.api("PUT", "Contacts", {"Name": "Idem"}, headers=h)
    second = ready.api("PUT", "Contacts", {"Name": "Idem"}, headers=h)
    assert first.content == second.content
    assert (
        ready.api("PUT", "Contacts", {"Name": "X"}, headers={"Idempotency-Key": "k" * 129}).status_code == 400
    )
    ready.control("PUT", "/faults", {"latency_ms": 300})

    async def pair() -> list[bytes]:
        async with httpx.AsyncClient(timeout=10) as c:
            hdrs = {**ready.headers(), "Idempotency-Key": "k-43"}
            url = f"{ready.url}/api.xro/2.0/Contacts"
            rs = await asyncio.gather(
                c.put(url, json={"Name": "Racing"}, headers=hdrs),
                c.put(url, json={"Name": "Racing"}, headers=hdrs),
            )
        return [r.content for r in rs]

    a, b = asyncio.run(pair())
    assert a == b
    assert sorted(c["Name"] for c in ready.dump()["Contacts"]) == ["Idem", "Racing"]


def test_counters_and_reset(ready: Sandbox) -> None:
    ready.control("POST", "/counters/reset")
    ready.api("GET", "Contacts")
    ready.api("PUT", "Invoices", {"Type": "ACCREC", "Contact": {"Name": "N"}, "LineItems": []})
    ready.api("GET", "Contacts/00000000-0000-0000-0000-000000000000")
    c = ready.control("GET", "/counters").json()
    assert c["total_calls"] == 3
    assert c["calls"] == {"GET /Contacts": 1, "PUT /Invoices": 1, "GET /Contacts/{id}": 1}
    assert c["by_tenant"][ready.tenant_id]["total_calls"] == 3
    # Control and OAuth calls are neither counted nor limited.
    _limits(ready, minute=1)
    for _ in range(3):
        assert ready.control("GET", "/counters").status_code == 200
