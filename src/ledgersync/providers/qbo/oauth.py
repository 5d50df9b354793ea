"""QuickBooks Online's OAuth2 connect flow (authorization code, refresh, revoke, the company from realmId)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from ledgersync.model import AUTH, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.oauth2 import AuthlibCodeClient, callback_params, incomplete_callback, token_fields
from ledgersync.providers.qbo.config import QboConfig
from ledgersync.providers.qbo.errors import RECONNECT_HINT, auth_revoked, fault_error
from ledgersync.providers.qbo.mapping import MINOR_VERSION, loads

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


@dataclass(frozen=True)
class QboEndpoints:
    discovery: str
    authorize: str
    token: str
    revocation: str
    api: str

    @classmethod
    def from_config(cls, config: QboConfig | Mapping[str, Any]) -> QboEndpoints:
        raw: str | None
        environment: str | None
        if isinstance(config, QboConfig):
            raw, environment = config.base_url, config.environment
        else:
            raw, environment = config.get("base_url"), config.get("environment")
        base = (raw or "").rstrip("/")
        if base:
            # A local sandbox serves every Intuit host's paths on one origin.
            return cls(
                discovery=f"{base}/.well-known/openid_configuration",
                authorize=f"{base}/connect/oauth2",
                token=f"{base}/oauth2/v1/tokens/bearer",
                revocation=f"{base}/v2/oauth2/tokens/revoke",
                api=f"{base}/v3",
            )
        # Intuit's development keys only reach sandbox companies, which live on their own API host.
        development = str(environment or "production").lower() in ("sandbox", "development")
        return cls(
            discovery="https://developer.intuit.com/.well-known/openid_"
            + ("sandbox_configuration" if development else "configuration"),
            authorize="https://appcenter.intuit.com/connect/oauth2",
            token="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
            revocation="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
            api=("https://sandbox-quickbooks.api.intuit.com" if development else "https://quickbooks.api.intuit.com")
            + "/v3",
        )


@dataclass
class QboToken(OAuthToken):
    """An OAuthToken that also remembers the company (realmId) its consent was given for.

    Intuit does not say which company a token is for through any API: the realmId only arrives on the
    redirect, beside the code. `exchange` keeps it here so `tenants` can name the company."""

    realm_id: str | None = None


def parse_callback(url_or_query: str) -> tuple[str, str, str | None]:
    """(code, state, realmId) from the redirect back from Intuit; ProviderError if consent was refused."""
    params = callback_params(url_or_query, "QuickBooks", "Start the connection again and choose Connect in QuickBooks.")
    if "code" not in params:
        raise incomplete_callback("The answer from QuickBooks is missing its code.")
    return params["code"], params.get("state", ""), params.get("realmId") or None


def split_code(code: str) -> tuple[str, str | None]:
    """The authorization code and realmId from what the app was handed back.

    `code` may be the bare code, the callback's query string (`code=..&state=..&realmId=..`) or the whole
    callback URL; only the last two carry the realmId."""
    if "code=" in code:
        found, _, realm = parse_callback(code)
        return found, realm
    return code, None


def token_from_response(data: Mapping[str, Any], realm_id: str | None = None) -> QboToken:
    # Intuit rotates the refresh token (roughly daily): the one returned must always replace the old one.
    fields = token_fields(data, 3600)
    return QboToken(
        **{**fields, "scope": fields["scope"] or ACCOUNTING_SCOPE, "token_type": "Bearer"}, realm_id=realm_id
    )


class QboOAuth(AuthlibCodeClient):
    """OAuthFlow for one Intuit app (QboConfig: client_id, client_secret, redirect_uri, scopes, base_url (a
    local sandbox), environment (production | sandbox: Intuit's development companies), timeout). Settings as
    a mapping are validated into QboConfig (ConfigError if they do not fit)."""

    platform: ClassVar[str] = "QuickBooks"
    possessive: ClassVar[str] = "QuickBooks'"
    endpoints: QboEndpoints

    def __init__(
        self, config: ProviderConfig | Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        cfg = QboConfig.coerce(config)
        # Sign-in calls keep their own 30 s: the API timeout (60) suits long queries, not token exchanges.
        super().__init__(cfg, ACCOUNTING_SCOPE, transport, 30.0 if "timeout" not in cfg.model_fields_set else None)
        self.endpoints = QboEndpoints.from_config(cfg)
        # The realmId of the last code exchanged on this flow, for a caller that hands `tenants` a plain token.
        self._last_realm: str | None = None

    def _renewal_refused(self, platform_message: str | None) -> SyncError:
        return auth_revoked(platform_message)

    def exchange(self, code: str) -> QboToken:
        """Trade the code for tokens. Pass the callback's whole query string (or URL) as `code` so the
        company's realmId travels with it; a bare code works for the tokens but cannot name the company."""
        bare, realm = split_code(code)
        data = self._fetch_token(bare)
        self._last_realm = realm
        return token_from_response(data, realm)

    def refresh(self, token: OAuthToken) -> QboToken:
        return token_from_response(self._refresh_token(token.refresh_token), getattr(token, "realm_id", None))

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        """The company this consent is for, named by its CompanyInfo (which also proves the token works)."""
        realm = getattr(token, "realm_id", None) or self._last_realm
        if not realm:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message="QuickBooks names the company only on the redirect (realmId), and it was not passed on.",
                    hint="Pass the callback's whole query string (code, state and realmId) as the code.",
                )
            )
        url = f"{self.endpoints.api}/company/{realm}/companyinfo/{realm}"
        try:
            with self._http() as http:
                response = http.get(
                    url,
                    params={"minorversion": MINOR_VERSION},
                    headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        body: Any = None
        try:
            body = loads(response.content) if response.content else None
        except ValueError:
            body = None
        fault = body.get("Fault") if isinstance(body, Mapping) else None
        error = fault_error(fault, response.status_code) if isinstance(fault, Mapping) else None
        if response.status_code in (401, 403) or (error is not None and error.code in AUTH):
            if error is None or error.code is not ErrorCode.AUTH_REVOKED:
                error = SyncError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="QuickBooks did not accept the sign-in when reading the company.",
                    hint=RECONNECT_HINT,
                    platform_code=error.platform_code if error else str(response.status_code),
                    platform_message=error.platform_message if error else None,
                )
            raise ProviderError(error)
        if response.status_code >= 500:
            raise self._unreachable(httpx.HTTPStatusError("companyinfo", request=response.request, response=response))
        # The realmId is what matters; a company whose name can't be read is still this company.
        info = (body.get("CompanyInfo") if isinstance(body, Mapping) else None) or {}
        name = str(info.get("CompanyName") or info.get("LegalName") or f"QuickBooks company {realm}")
        return [Tenant(id=str(realm), name=name)]

    def revoke(self, token: OAuthToken) -> None:
        """Revoke the refresh token and with it the app's access to the company (Intuit takes a JSON body)."""
        try:
            with self._http() as http:
                response = http.post(
                    self.endpoints.revocation,
                    json={"token": token.refresh_token or token.access_token},
                    auth=(self.client_id, self._secret),
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 500:
            raise self._unreachable(httpx.HTTPStatusError("revoke", request=response.request, response=response))
