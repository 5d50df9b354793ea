"""MYOB's OAuth2 connect flow: consent at secure.myob.com/oauth2/account/authorize, where an administrator picks
one business (its id comes back on the redirect as `businessId`), and code exchange and refresh at
/oauth2/v1/authorize with a form body (.NET SDK OAuthRequestHandler.cs; pymyob credentials.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.myob.config import MyobConfig
from ledgersync.providers.myob.errors import RECONNECT_HINT
from ledgersync.providers.oauth2 import DEAD_GRANT, OAuth2CodeClient, callback_params, incomplete_callback, token_fields
from ledgersync.providers.session import loads_exact

# The granular scopes a sync needs (developer.myob.com "Granular Data Scopes"); the legacy "CompanyFile" scope
# still works for older API keys and can be set in `scopes`.
# The vendor side (issue 16) needs the supplier cards and purchases too.
DEFAULT_SCOPES = (
    "sme-company-file sme-contacts-customer sme-contacts-supplier sme-sales sme-purchases sme-inventory "
    "sme-general-ledger"
)


@dataclass(frozen=True)
class MyobEndpoints:
    authorize: str
    token: str
    api: str

    @classmethod
    def from_config(cls, config: MyobConfig) -> MyobEndpoints:
        base = (config.base_url or "").rstrip("/")
        if base:
            # A local sandbox serves both hosts' paths on one origin.
            return cls(f"{base}/oauth2/account/authorize", f"{base}/oauth2/v1/authorize", f"{base}/accountright")
        return cls(
            "https://secure.myob.com/oauth2/account/authorize",
            "https://secure.myob.com/oauth2/v1/authorize",
            "https://api.myob.com/accountright",
        )


def parse_callback(url_or_query: str) -> dict[str, str]:
    """The redirect's parameters (code, state, businessId); ProviderError if consent was refused."""
    params = callback_params(
        url_or_query, "MYOB", "Start the connection again, sign in as an administrator and choose Allow access."
    )
    if not params.get("code") or not params.get("businessId"):
        raise incomplete_callback(
            "The answer from MYOB is missing its code or the business chosen (businessId).",
            "Start the connection again and choose the business to connect.",
        )
    return params


def token_from_response(data: Mapping[str, Any], now: dt.datetime | None = None) -> OAuthToken:
    # MYOB writes expires_in as a string ("1200"); 1200 s is the commonly reported lifetime (UNVERIFIED).
    return OAuthToken(**token_fields(data, 1200, now))


class MyobOAuth(OAuth2CodeClient):
    """OAuthFlow for one MYOB app (API key and secret, redirect URI). The business the person chose comes back
    on the redirect; `exchange` keeps it for `tenants`, which names that one business."""

    platform: ClassVar[str] = "MYOB"
    possessive: ClassVar[str] = "MYOB's"

    def __init__(
        self, config: ProviderConfig | Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        cfg = MyobConfig.coerce(config)
        super().__init__(cfg, DEFAULT_SCOPES, transport)
        self.endpoints = MyobEndpoints.from_config(cfg)
        self.business_id: str | None = None

    def authorization_url(self, state: str) -> str:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scopes,
            "state": state,
            # What makes MYOB's redirect carry the businessId of the business chosen (pymyob credentials.py).
            "prompt": "consent",
        }
        return f"{self.endpoints.authorize}?{urlencode(params)}"

    def _token_call(self, form: dict[str, str]) -> httpx.Response:
        # A form body with the secret in it, not HTTP Basic (.NET SDK OAuthRequestHandler.cs).
        try:
            with self._http() as http:
                return http.post(self.endpoints.token, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def exchange(self, code: str) -> OAuthToken:
        if "code=" in code:
            params = parse_callback(code)
            code = params["code"]
            self.business_id = params["businessId"].lower()
        response = self._token_call(
            {
                "client_id": self.client_id,
                "client_secret": self._secret,
                "redirect_uri": self.redirect_uri,
                "scope": self.scopes,
                "code": code,
                "grant_type": "authorization_code",
            }
        )
        if response.status_code != 200:
            body = _body(response)
            raise self._code_refused(
                str(body.get("error") or response.status_code), str(body.get("error_description") or "") or None
            )
        return token_from_response(loads_exact(response.content))

    def refresh(self, token: OAuthToken) -> OAuthToken:
        response = self._token_call(
            {
                "client_id": self.client_id,
                "client_secret": self._secret,
                "refresh_token": token.refresh_token,
                "grant_type": "refresh_token",
            }
        )
        if response.status_code == 200:
            return token_from_response(loads_exact(response.content))
        body = _body(response)
        if str(body.get("error")) in DEAD_GRANT or response.status_code in (400, 401):
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="MYOB refused to renew this connection's sign-in (it was disconnected or has expired).",
                    hint=RECONNECT_HINT,
                    platform_code=str(body.get("error") or response.status_code),
                    platform_message=str(body.get("error_description") or "") or None,
                )
            )
        raise self._unreachable(httpx.HTTPStatusError("token", request=response.request, response=response))

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        """The business chosen at consent, named from GET /accountright/ (the company files this consent reached)."""
        try:
            with self._http() as http:
                response = http.get(
                    f"{self.endpoints.api}/",
                    headers={
                        "Authorization": f"Bearer {token.access_token}",
                        "x-myobapi-key": self.client_id,
                        "x-myobapi-version": "v2",
                        "Accept": "application/json",
                    },
                )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise self._listing_refused("businesses", response.status_code, RECONNECT_HINT)
        if response.status_code != 200:
            raise self._unreachable(httpx.HTTPStatusError("company files", request=response.request, response=response))
        files = [f for f in loads_exact(response.content) or [] if isinstance(f, Mapping)]
        chosen = self.business_id
        found = [Tenant(id=str(f["Id"]).lower(), name=str(f.get("Name") or "")) for f in files]
        if chosen is not None:
            found = [t for t in found if t.id == chosen] or [Tenant(id=chosen, name="")]
        return found


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
