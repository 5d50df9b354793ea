"""Dashboard users: scrypt hashes, roles per organisation, the create-user command and the mount contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware.sessions import SessionMiddleware

from ledgersync.engine import LedgerSync
from ledgersync.engine.actions import Role
from ledgersync.web import create_user, mount, set_role
from ledgersync.web.__main__ import main
from ledgersync.web.auth import authenticate, hash_password, load_user, verify_password


@pytest.fixture
def ls(tmp_path: Path, secret_key: str) -> LedgerSync:
    return LedgerSync(f"sqlite:///{tmp_path / 'u.db'}", secret_keys=[secret_key])


def test_a_password_hash_is_salted_and_checks_only_the_right_password() -> None:
    a, b = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert a != b and a.startswith("scrypt$") and "s3cret" not in a
    assert verify_password("s3cret-pass", a) and not verify_password("s3cret-pasS", a)
    assert not verify_password("s3cret-pass", "garbage") and not verify_password("x", "bcrypt$1$2$3$4$5")


def test_a_user_has_a_role_in_each_of_their_organisations(ls: LedgerSync) -> None:
    one, two = ls.create_organisation("One"), ls.create_organisation("Two")
    uid = create_user(ls.store, "Pat@Example.com", "password-1", one, "owner")
    assert create_user(ls.store, "pat@example.com", "password-2", two, Role.MEMBER) == uid
    user = authenticate(ls.store, "pat@example.com", "password-2")
    assert user is not None and {m.org_id: m.role for m in user.memberships} == {one: Role.OWNER, two: Role.MEMBER}
    assert authenticate(ls.store, "pat@example.com", "password-1") is None
    assert authenticate(ls.store, "nobody@example.com", "password-2") is None
    set_role(ls.store, uid, two, "admin")
    loaded = load_user(ls.store, uid)
    assert loaded is not None and loaded.actor(two).can_manage


def test_create_user_refuses_short_passwords_and_unknown_organisations(ls: LedgerSync) -> None:
    org = ls.create_organisation("One")
    with pytest.raises(ValueError, match="8 characters"):
        create_user(ls.store, "a@example.com", "short", org)
    with pytest.raises(ValueError, match="no organisation"):
        create_user(ls.store, "a@example.com", "long-enough", "org_missing")


def test_the_create_user_command_adds_a_user(
    ls: LedgerSync, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org = ls.create_organisation("One")
    monkeypatch.setenv("LEDGERSYNC_NEW_PASSWORD", "from-the-env-1")
    url = str(ls.store.engine.url)
    monkeypatch.setattr("ledgersync.web.__main__.LedgerSync", lambda _db: ls)
    assert main(["create-user", "boss@example.com", "--org", org, "--role", "owner", "--db", url]) == 0
    assert "is now owner" in capsys.readouterr().out
    assert authenticate(ls.store, "boss@example.com", "from-the-env-1") is not None


def test_mount_adds_sessions_assets_and_pages_once(ls: LedgerSync) -> None:
    app = FastAPI()
    mount(app, ls, session_secret="s")
    mount(app, ls, session_secret="s")
    assert [m.cls for m in app.user_middleware].count(SessionMiddleware) == 1
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200
        assert client.get("/assets/web.css").status_code == 200
        for path in ("/integrations", "/errors", "/customers", "/invoices", "/payments", "/events"):
            assert client.get(path, follow_redirects=False).headers["location"].startswith("/login?next=")
