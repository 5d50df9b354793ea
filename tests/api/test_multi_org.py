"""One Xero consent adding several organisations through the REST API (the connection waits, the app lists the
organisations and chooses one), and the organisation's own relay setting (issue 15)."""

from __future__ import annotations

from ledgersync.demo import XeroSandboxHandle, consent
from ledgersync.engine.actions import Role

from ..engine.conftest import FAST_CLIENT
from .conftest import Api


def test_a_two_organisation_consent_is_listed_then_chosen_then_synced(api: Api, sandbox: XeroSandboxHandle) -> None:
    second = sandbox.control.post("/_sandbox/tenants", json={"name": "Second Org Ltd"}).json()["tenantId"]
    r = api.client.post(
        "/v1/connections", headers=api.a.h(), json={"provider": "xero", "config": {**sandbox.config, **FAST_CLIENT}}
    )
    conn = r.json()["connection_id"]
    code, state = consent(r.json()["authorization_url"], choose={"tenantId": [sandbox.tenant_id, second]})
    cb = api.client.get("/v1/oauth/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert cb.status_code == 303 and cb.headers["location"] == f"/integrations?choose={conn}"
    got = api.client.get(f"/v1/connections/{conn}", headers=api.a.h(Role.MEMBER)).json()
    assert got["status"] == "choose_organisation" and got["tenant_id"] is None
    listed = api.client.get(f"/v1/connections/{conn}/tenants", headers=api.a.h(Role.MEMBER))
    assert listed.status_code == 200
    assert {t["tenant_id"]: t["name"] for t in listed.json()} == {
        sandbox.tenant_id: "Demo Company (AU)",
        second: "Second Org Ltd",
    }
    # Nothing syncs before the choice; members may look but not choose; another organisation sees nothing.
    blocked = api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h())
    assert blocked.status_code == 409 and "choose the organisation" in blocked.json()["detail"]
    body = {"tenant_id": second}
    assert (
        api.client.post(f"/v1/connections/{conn}/tenants", headers=api.a.h(Role.MEMBER), json=body).status_code == 403
    )
    assert api.client.get(f"/v1/connections/{conn}/tenants", headers=api.b.h()).status_code == 404
    assert api.client.post(f"/v1/connections/{conn}/tenants", headers=api.b.h(), json=body).status_code == 404
    wrong = api.client.post(f"/v1/connections/{conn}/tenants", headers=api.a.h(), json={"tenant_id": "nope"})
    assert wrong.status_code == 422 and "not in this consent" in wrong.json()["detail"]
    chosen = api.client.post(f"/v1/connections/{conn}/tenants", headers=api.a.h(), json=body)
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["status"], chosen.json()["tenant_id"]) == ("connected", second)
    assert api.client.get(f"/v1/connections/{conn}/tenants", headers=api.a.h()).json() == []
    again = api.client.post(f"/v1/connections/{conn}/tenants", headers=api.a.h(), json=body)
    assert again.status_code == 409
    for _ in range(2):  # the first sync and the next
        assert api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).json()["status"] == "ok"


def test_a_one_organisation_consent_connects_straight_through(api: Api, sandbox: XeroSandboxHandle) -> None:
    conn = api.connect(sandbox)  # asserts the callback went on to ?connected=
    assert api.client.get(f"/v1/connections/{conn}/tenants", headers=api.a.h()).json() == []


def test_the_relay_setting_belongs_to_the_organisation(api: Api) -> None:
    org = api.client.get("/v1/organisation", headers=api.a.h(Role.MEMBER)).json()
    assert org["relay_between_platforms"] is False and org["relay_between_platforms_own"] is None
    patch = {"relay_between_platforms": True}
    assert api.client.patch("/v1/organisation", headers=api.a.h(Role.MEMBER), json=patch).status_code == 403
    on = api.client.patch("/v1/organisation", headers=api.a.h(Role.ADMIN), json=patch)
    assert on.status_code == 200
    assert on.json()["relay_between_platforms"] is True and on.json()["relay_between_platforms_own"] is True
    # The other organisation keeps the default.
    assert api.client.get("/v1/organisation", headers=api.b.h()).json()["relay_between_platforms"] is False
    # A body without the key changes nothing; null goes back to the deployment's default.
    assert api.client.patch("/v1/organisation", headers=api.a.h(), json={}).json()["relay_between_platforms"] is True
    back = api.client.patch("/v1/organisation", headers=api.a.h(), json={"relay_between_platforms": None}).json()
    assert back["relay_between_platforms"] is False and back["relay_between_platforms_own"] is None
    bad = api.client.patch("/v1/organisation", headers=api.a.h(), json={"relay": True})
    assert bad.status_code == 422
