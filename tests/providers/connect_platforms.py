"""Two small platforms, for tests only, that connect the ways DEAR and QuickBooks Desktop do.

"keyed" is reached with an account id and an application key sent as headers (as DEAR / Cin7 Core does): a
loopback HTTP service answers `/me` and `/customer`, and calls it back with a bearer token we chose. "desktop"
is reached through the QuickBooks Web Connector (a .qwc file and a password); it is only ever connected here,
never synced, until the QuickBooks Desktop connector exists."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Header, Response
from pydantic import SecretStr

from ledgersync.model import Contact, Entity, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import (
    CallInfo,
    Capabilities,
    Changes,
    PullPage,
    RemoteRecord,
    Tenant,
    TokenStore,
    WebhookRefused,
    Write,
    WriteResult,
)
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig, UrlSetting
from ledgersync.providers.connect import ApiKeyFlow, CredentialField, WebConnectorConfig, WebConnectorFlow
from ledgersync.sandbox.server import RunningServer, serve_in_thread


# -- the keyed platform's service ----------------------------------------------------------------------------
@dataclass
class KeyedAccount:
    account_id: str
    application_key: str
    company: str
    customers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class KeyedService:
    accounts: dict[str, KeyedAccount] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        def account(account_id: str | None, key: str | None) -> KeyedAccount | None:
            found = self.accounts.get(account_id or "")
            return found if found is not None and found.application_key == key else None

        @app.get("/me")
        def me(
            account_id: str | None = Header(None, alias="api-auth-accountid"),
            key: str | None = Header(None, alias="api-auth-applicationkey"),
        ) -> Response:
            self.calls.append("/me")
            found = account(account_id, key)
            if found is None:
                return Response(json.dumps({"Exception": "Method authentication failed"}), 403)
            return Response(json.dumps({"Company": found.company}), 200, media_type="application/json")

        @app.get("/customer")
        def customers(
            account_id: str | None = Header(None, alias="api-auth-accountid"),
            key: str | None = Header(None, alias="api-auth-applicationkey"),
        ) -> Response:
            self.calls.append("/customer")
            found = account(account_id, key)
            if found is None:
                return Response(json.dumps({"Exception": "Method authentication failed"}), 403)
            body = {"CustomerList": found.customers, "Total": len(found.customers)}
            return Response(json.dumps(body), 200, media_type="application/json")

        return app

    def serve(self) -> RunningServer:
        return serve_in_thread(self.app())


# -- the keyed platform as ledgersync sees it -------------------------------------------------------------------
class KeyedConfig(ProviderConfig):
    base_url: UrlSetting
    account_id: str | None = None
    application_key: SecretStr | None = None
    # The bearer token the platform is told to send with its webhooks (we choose it, as with DEAR).
    webhook_token: SecretStr | None = None


def _headers(config: KeyedConfig) -> dict[str, str]:
    return {
        "api-auth-accountid": config.account_id or "",
        "api-auth-applicationkey": config.secret("application_key") or "",
    }


def _refused(response: httpx.Response) -> ProviderError:
    return ProviderError(
        SyncError(
            code=ErrorCode.AUTH_REVOKED,
            message="Keyed Books did not accept the account id and application key.",
            hint="Copy both again from Keyed Books' API page.",
            platform_code=str(response.status_code),
            platform_message=response.json().get("Exception"),
        )
    )


def verify(config: ProviderConfig) -> Tenant:
    """One cheap call (`/me`) that proves the credentials and names the company."""
    cfg = KeyedConfig.coerce(config)
    response = httpx.get(f"{cfg.base_url}/me", headers=_headers(cfg), timeout=cfg.timeout)
    if response.status_code != 200:
        raise _refused(response)
    return Tenant(id=cfg.account_id or "", name=str(response.json()["Company"]))


KEYED_CAPABILITIES = Capabilities(
    display_name="Keyed Books",
    contacts_both_ways=False,
    payments_both_ways=False,
    pull_entities=(Entity.CONTACT,),
    push_entities=(),
)
_READ_ONLY = SyncError(code=ErrorCode.VALIDATION, message="Keyed Books is read-only here.", hint="Nothing to do.")


class KeyedProvider:
    """Reads Keyed Books' customers with the connection's decrypted key; writes nothing (it pushes no entity)."""

    capabilities = KEYED_CAPABILITIES

    def __init__(self, config: KeyedConfig) -> None:
        self.config = config
        self.on_call: Any = None
        self.http = httpx.Client(base_url=config.base_url, headers=_headers(config), timeout=config.timeout)

    def _customers(self) -> list[RemoteRecord]:
        response = self.http.get("/customer")
        if self.on_call is not None:
            self.on_call(CallInfo("GET", "/customer", response.status_code, 0.0))
        if response.status_code != 200:
            raise _refused(response)
        return [
            RemoteRecord(
                entity=Entity.CONTACT,
                remote_id=str(c["ID"]),
                version=str(c["LastModifiedOn"]),
                record=Contact(id=str(c["ID"]), name=str(c["Name"])),
                updated_at=dt.datetime.fromisoformat(str(c["LastModifiedOn"])),
            )
            for c in response.json()["CustomerList"]
        ]

    def pull(self, entity: Entity, cursor: str | None) -> Iterator[PullPage]:
        records = self._customers() if entity is Entity.CONTACT else []
        yield PullPage(records, max((r.version for r in records), default=cursor))

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        wanted = set(remote_ids)
        return [r for r in self._customers() if r.remote_id in wanted] if entity is Entity.CONTACT else []

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        return [WriteResult(key=w.key, error=_READ_ONLY) for w in writes]

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        return {}

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        return WriteResult(key=write.key, error=_READ_ONLY)

    def close(self) -> None:
        self.http.close()


class KeyedSpec:
    name = "keyed"
    capabilities = KEYED_CAPABILITIES
    config_model: type[ProviderConfig] = KeyedConfig
    connect_flow = ApiKeyFlow(
        (
            CredentialField("account_id", "Account ID", secret=False),
            CredentialField("application_key", "Application key"),
        ),
        verify,
    )
    webhook_auth = "Authorization: Bearer <the connection's webhook_token>"

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> KeyedProvider:
        return KeyedProvider(KeyedConfig.coerce(config))

    def receive_webhook(
        self, config: ProviderConfig, tenant_id: str | None, body: bytes, headers: Mapping[str, str]
    ) -> Changes:
        token = config.secret("webhook_token")
        if not token or headers.get("authorization") != f"Bearer {token}":
            raise WebhookRefused("wrong bearer token")
        payload = json.loads(body)
        return {Entity.CONTACT: {str(payload["CustomerID"])}} if payload.get("Type") == "Customer/Updated" else {}


# -- the desktop platform -------------------------------------------------------------------------------------
class DesktopConfig(WebConnectorConfig):
    pass


class DesktopSpec:
    name = "desktop"
    capabilities = Capabilities(display_name="Desktop Books")
    config_model: type[ProviderConfig] = DesktopConfig
    connect_flow = WebConnectorFlow(app_name="ledgersync tests", description="Syncs the test app")

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> KeyedProvider:
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="Desktop Books is only connected in these tests; its sync runs through the Web Connector.",
                hint="Nothing to do.",
            )
        )
