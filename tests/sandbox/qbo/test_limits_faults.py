"""requestid idempotency, throttles (429 body, no headers), injected faults, counters, client disconnects."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from .conftest import Sandbox

THROTTLE = {
    "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
    "Detail": "The request limit was reached.  Try again later",
    "code": "3001",
    "element": "",
}


def _limits(s: Sandbox, **kw: int) -> None:
    base = {"minute": 1000, "concurrent": 50, "batch_minute": 1000, "batch_realm_minute": 1000}
    s.control("PUT", "/config", {"rate_limits": {**base, **kw}})


def test_requestid_replays_and_never_reexecutes(ready: Sandbox) -> None:
    first = ready.api("POST", "customer", {"DisplayName": "Once"}, params={"requestid": "req-1"})
    again = ready.api("POST", "customer", {"DisplayName": "Once"}, params={"requestid": "req-1"})
    assert first.status_code == again.status_code == 200 and first.content == again.content
    other_body = ready.api("POST", "customer", {"DisplayName": "Different"}, params={"requestid": "req-1"})
    assert other_body.content == first.content
    assert ready.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1}
    err = ready.fault("POST", "customer", {"DisplayName": "Long"}, params={"requestid": "x" * 51})
    assert err["code"] == "6000" and "more than 50 characters in the request_id field" in err["Detail"]
    # a faulted original is replayed too
    bad = ready.api("POST", "customer", {"DisplayName": "a:b"}, params={"requestid": "req-2"})
    assert bad.status_code == 400
    assert ready.api("POST", "customer", {"DisplayName": "fine"}, params={"requestid": "req-2"}).content == bad.content


def test_minute_limit_per_realm(ready: Sandbox) -> None:
    _limits(ready, minute=3)
    codes = [ready.api("GET", "customer/1") for _ in range(4)]
    assert [r.status_code for r in codes[:3]] == [400, 400, 400]  # 610, but counted
    r = codes[3]
    assert r.status_code == 429 and r.json()["Fault"]["Error"][0] == THROTTLE and r.json()["Fault"]["type"] == "SERVICE"
    assert not any(h.lower().startswith("x-ratelimit") or h.lower() == "retry-after" for h in r.headers)
    assert ready.control("GET", "/counters").json()["rate_limited"]["minute"] == 1


def test_batch_limit_per_realm_and_app(ready: Sandbox) -> None:
    _limits(ready, batch_minute=2)
    body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT * FROM Item"}]}
    assert [ready.api("POST", "batch", body).status_code for _ in range(3)] == [200, 200, 429]
    assert ready.api("GET", "query", params={"query": "SELECT * FROM Item"}).status_code == 200


def test_concurrent_limit(ready: Sandbox) -> None:
    _limits(ready, concurrent=2)
    ready.control("PUT", "/faults", {"latency_ms": 300})

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as c:
            rs = await asyncio.gather(
                *[c.get(f"{ready.url}/v3/company/{ready.realm}/item/1", headers=ready.headers()) for _ in range(4)]
            )
        return sorted(r.status_code for r in rs)

    assert asyncio.run(burst()) == [200, 200, 429, 429]
    assert ready.control("GET", "/counters").json()["rate_limited"]["concurrent"] == 2


@pytest.mark.parametrize("code", ["500", "503", "429"])
def test_injected_error_faults_commit_nothing(ready: Sandbox, code: str) -> None:
    ready.control("PUT", "/faults", {"error_rates": {code: 1.0}, "seed": 1})
    r = ready.api("POST", "customer", {"DisplayName": "Never"})
    assert r.status_code == int(code)
    assert r.json()["Fault"]["type"] == ("SERVICE" if code == "429" else "SystemFault")
    ready.control("DELETE", "/faults")
    assert ready.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}
    assert ready.control("GET", "/counters").json()["faults"][code] == 1


def test_timeout_and_drop_after_commit(ready: Sandbox) -> None:
    ready.control("PUT", "/faults", {"timeout_after_commit_rate": 1.0, "hang_seconds": 2})
    with pytest.raises(httpx.ReadTimeout):
        ready.api("POST", "customer", {"DisplayName": "Slow"}, timeout=0.5)
    ready.control("PUT", "/faults", {"timeout_after_commit_rate": 0.0, "drop_after_commit_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        ready.api("POST", "customer", {"DisplayName": "Dropped"})
    ready.control("DELETE", "/faults")
    names = sorted(c["DisplayName"] for c in ready.query("SELECT * FROM Customer")["Customer"])
    assert names == ["Dropped", "Slow"]
    counters = ready.control("GET", "/counters").json()
    assert counters["faults"]["timeout_after_commit"] == 1 and counters["faults"]["drop_after_commit"] == 1
    assert counters["calls"]["POST /customer"] == 2 and counters["by_tenant"][ready.realm]["total_calls"] >= 3


def test_killed_client_is_handled_quietly(ready: Sandbox, capfd: pytest.CaptureFixture[str]) -> None:
    host, port = ready.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST /v3/company/{ready.realm}/customer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            f"{ready.tokens['access_token']}\r\nContent-Type: application/json\r\n"
            "Content-Length: 500\r\n\r\n{".encode()
        )
    assert ready.api("GET", "item/1").status_code == 200
    assert "Traceback" not in capfd.readouterr().err
