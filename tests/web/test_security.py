"""Issue 9 on the dashboard: sign-in throttled per account and per address (429, Retry-After, a lockout the
right password does not pass, lifted by an owner), sessions that end, and the Secure cookie over HTTPS."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledgersync.api import ApiSettings, create_app
from ledgersync.sandbox.server import serve_in_thread
from ledgersync.store.tables import WebSession
from ledgersync.web import create_user
from ledgersync.web.__main__ import main as web_command

from .conftest import ADMIN, MEMBER, Web, csrf_of, login

WRONG = "not-the-password"


def app_with(web: Web, **settings: Any) -> FastAPI:
    url = web.ls.store.engine.url.render_as_string(hide_password=False)
    return create_app(web.ls, settings=ApiSettings.from_env(url, **settings))


def attempt(client: TestClient, email: str, password: str) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/integrations"},
        follow_redirects=False,
    )


@pytest.fixture
def client(web: Web) -> Iterator[TestClient]:
    with TestClient(web.app) as c:
        yield c


# -- throttled sign-in --------------------------------------------------------------------------------------------
def test_repeated_wrong_passwords_draw_a_429_with_retry_after(client: TestClient) -> None:
    codes = [attempt(client, ADMIN[0], WRONG).status_code for _ in range(5)]
    assert codes == [401] * 5
    locked = attempt(client, ADMIN[0], WRONG)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in locked.text


def test_the_right_password_does_not_get_past_a_lockout(client: TestClient) -> None:
    for _ in range(5):
        attempt(client, ADMIN[0], WRONG)
    r = attempt(client, ADMIN[0], ADMIN[1])
    assert r.status_code == 429 and "ledgersync_session" not in r.headers.get("set-cookie", "")
    assert client.get("/integrations", follow_redirects=False).status_code == 303


def test_an_owner_lifts_a_lockout_and_the_right_password_then_works(
    web: Web, client: TestClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(6):
        attempt(client, ADMIN[0], WRONG)
    assert attempt(client, ADMIN[0], ADMIN[1]).status_code == 429
    monkeypatch.setattr("ledgersync.web.__main__.LedgerSync", lambda _db: web.ls)
    assert web_command(["unlock", ADMIN[0].upper()]) == 0
    assert "sign-in unlocked" in capsys.readouterr().out
    assert attempt(client, ADMIN[0], ADMIN[1]).status_code == 303


def test_the_wait_grows_with_each_failure_past_the_free_ones(web: Web) -> None:
    with TestClient(app_with(web, signin_free_failures=2, signin_delay_base=0.02, signin_delay_max=3600)) as c:
        waits = []
        for _ in range(6):
            assert attempt(c, MEMBER[0], WRONG).status_code == 401
            row = web.ls.store.sign_in_lock("account:" + MEMBER[0])
            assert row is not None
            if row.locked_until is not None:
                waits.append((row.locked_until - row.last_failed_at).total_seconds())
                threading.Event().wait(waits[-1] + 0.02)  # sit the wait out, then guess again
    assert waits == pytest.approx([0.02 * 2**k for k in range(5)], rel=0.01)


def test_one_address_guessing_many_accounts_is_throttled_too(web: Web) -> None:
    for i in range(6):
        create_user(web.ls.store, f"user{i}@example.com", "password-ok-1", web.org)
    with TestClient(app_with(web, signin_address_free_failures=4)) as c:
        codes = [attempt(c, f"user{i}@example.com", WRONG).status_code for i in range(6)]
        assert codes == [401, 401, 401, 401, 429, 429]
        # Another account's right password from the same address waits too (the address is locked).
        assert attempt(c, ADMIN[0], ADMIN[1]).status_code == 429


def test_good_sign_ins_from_a_shared_address_do_not_add_up_to_a_lockout(web: Web) -> None:
    with TestClient(app_with(web, signin_address_free_failures=3)) as c:
        for _ in range(6):
            assert attempt(c, ADMIN[0], ADMIN[1]).status_code == 303
            c.post("/logout", data={"csrf_token": csrf_of(c.get("/integrations").text)})


def test_a_burst_of_parallel_guesses_gets_no_more_than_the_free_attempts(web: Web) -> None:
    with serve_in_thread(web.app) as server, httpx.Client(base_url=server.url) as http:
        csrf = csrf_of(http.get("/login").text)
        codes: list[int] = []

        def guess() -> None:
            r = http.post("/login", data={"email": MEMBER[0], "password": WRONG, "csrf_token": csrf})
            codes.append(r.status_code)

        threads = [threading.Thread(target=guess) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(codes) == 20 and codes.count(401) <= 5 and codes.count(429) >= 15


# -- sessions that end ----------------------------------------------------------------------------------------------
def test_a_session_cookie_replayed_after_sign_out_is_refused(web: Web, admin: tuple[TestClient, str]) -> None:
    client, csrf = admin
    stolen = client.cookies.get("ledgersync_session")
    assert stolen and client.get("/integrations").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with TestClient(web.app) as attacker:
        attacker.cookies.set("ledgersync_session", stolen)
        r = attacker.get("/integrations", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def _age_sessions(web: Web, **delta: float) -> None:
    with web.ls.store.session() as s:
        for row in s.query(WebSession):
            if "idle" in delta:
                row.last_seen_at = row.last_seen_at - dt.timedelta(seconds=delta["idle"])
            if "age" in delta:
                row.created_at = row.created_at - dt.timedelta(seconds=delta["age"])


def test_a_session_ends_after_an_idle_hour(web: Web, admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    _age_sessions(web, idle=3500)
    assert client.get("/integrations", follow_redirects=False).status_code == 200  # 58 minutes: still on
    _age_sessions(web, idle=3601)
    assert client.get("/integrations", follow_redirects=False).status_code == 303


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(web: Web, admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    _age_sessions(web, age=12 * 3600 + 1)
    assert client.get("/integrations", follow_redirects=False).status_code == 303


def test_a_new_password_ends_the_sessions_made_with_the_old_one(web: Web, admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    create_user(web.ls.store, ADMIN[0], "a-brand-new-password", web.org, "admin")
    assert client.get("/integrations", follow_redirects=False).status_code == 303


# -- the Secure cookie ----------------------------------------------------------------------------------------------
def test_the_session_cookie_is_secure_over_https(web: Web) -> None:
    with TestClient(web.app, base_url="https://testserver") as c:
        cookie = c.get("/login").headers["set-cookie"]
        assert cookie.startswith("ledgersync_session=") and "secure" in cookie.lower()
    with TestClient(web.app) as plain:
        assert "secure" not in plain.get("/login").headers["set-cookie"].lower()


def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(web: Web) -> None:
    https = {"x-forwarded-proto": "https"}
    with TestClient(app_with(web)) as untrusted:
        assert "secure" not in untrusted.get("/login", headers=https).headers["set-cookie"].lower()
    # TestClient's peer address is "testclient": the operator trusts it as their proxy.
    with TestClient(app_with(web, trusted_proxies=["testclient"])) as proxied:
        assert "secure" in proxied.get("/login", headers=https).headers["set-cookie"].lower()


def test_signing_in_again_ends_the_earlier_session_of_that_browser(web: Web, admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    earlier = client.cookies.get("ledgersync_session")
    login(client, MEMBER)
    with TestClient(web.app) as replay:
        replay.cookies.set("ledgersync_session", earlier or "")
        assert replay.get("/integrations", follow_redirects=False).status_code == 303
    assert client.get("/integrations", follow_redirects=False).status_code == 200
