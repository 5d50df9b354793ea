"""Connect flows: how a person gives ledgersync access to one platform (OAuth2 code, API key, Web Connector)."""

from __future__ import annotations

import secrets
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from ledgersync.passwords import hash_password
from ledgersync.providers.base import OAuthFlow, OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig, UrlSetting


@dataclass(frozen=True)
class CredentialField:
    """One value a person submits to connect (an account id, an application key)."""

    name: str
    label: str
    secret: bool = True
    help: str = ""


@dataclass(frozen=True)
class Grant:
    """What finishing a connect flow yields: the tenants it reached, and the credentials to keep encrypted
    (an OAuth token, submitted secrets), plus submitted values that are plain settings."""

    tenants: list[Tenant]
    token: OAuthToken | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


class ConnectFlow:
    """Base of the three connect flows. `kind` says what the person does next; `grant_keys` names the
    credentials a connect produced (dropped on disconnect, unlike the app's own secrets)."""

    kind: ClassVar[str]
    grant_keys: tuple[str, ...] = ()


class OAuth2CodeFlow(ConnectFlow):
    """OAuth2 authorization code (Xero, QuickBooks Online, MYOB): the person is sent to the platform's consent
    page with a `state`; the callback's whole query goes to the platform's client, which reads what it needs
    from it (the code; QuickBooks' realmId; MYOB's businessId)."""

    kind: ClassVar[str] = "redirect"

    def __init__(self, client: Callable[[ProviderConfig], OAuthFlow]) -> None:
        self._client = client

    def client(self, config: ProviderConfig) -> OAuthFlow:
        return self._client(config)

    def authorization_url(self, config: ProviderConfig, state: str) -> str:
        return self.client(config).authorization_url(state)

    def complete(self, config: ProviderConfig, callback_query: str) -> Grant:
        """Trade the code for tokens and list the tenants the consent reached (ProviderError if refused)."""
        client = self.client(config)
        token = client.exchange(callback_query)
        return Grant(tenants=client.tenants(token), token=token)


class ApiKeyFlow(ConnectFlow):
    """Credentials a person copies from the platform (DEAR: account id + application key). No redirect: they
    are submitted, checked by `verify` with one cheap call (which names the tenant), and only then saved."""

    kind: ClassVar[str] = "credentials"

    def __init__(self, fields: Sequence[CredentialField], verify: Callable[[ProviderConfig], Tenant]) -> None:
        if not fields:
            raise ValueError("an API-key flow needs at least one field")
        self.fields = tuple(fields)
        self._verify = verify
        self.grant_keys = tuple(f.name for f in self.fields if f.secret)

    def check(self, submitted: Mapping[str, str]) -> dict[str, str]:
        """The submitted values, every field present and no other (ValueError names what is wrong)."""
        known = {f.name for f in self.fields}
        extra = sorted(set(submitted) - known)
        if extra:
            raise ValueError(f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(extra)}")
        values = {k: str(v).strip() for k, v in submitted.items()}
        missing = [f.label for f in self.fields if not values.get(f.name)]
        if missing:
            raise ValueError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
        return values

    def complete(self, config: ProviderConfig, submitted: Mapping[str, str]) -> Grant:
        """`config` already carries the submitted values; verify them with the platform."""
        values = self.check(submitted)
        tenant = self._verify(config)
        secret = {f.name for f in self.fields if f.secret}
        return Grant(
            tenants=[tenant],
            secrets={k: v for k, v in values.items() if k in secret},
            settings={k: v for k, v in values.items() if k not in secret},
        )


# -- QuickBooks Web Connector ---------------------------------------------------------------------------------
PASSWORD_HASH_KEY = "web_connector_password_hash"


class WebConnectorConfig(ProviderConfig):
    """Settings of a platform reached through the QuickBooks Web Connector: where it finds our SOAP service."""

    app_url: UrlSetting = Field(description="The SOAP service URL the Web Connector polls (HTTPS, or localhost)")
    app_support_url: UrlSetting | None = Field(None, description="A support page (the Web Connector requires one)")
    run_every_minutes: int = Field(30, ge=1, le=24 * 60)
    # Set by the flow on the first connect and kept, so the same company file stays authorised across a
    # Refresh link (the Web Connector re-asks for authorisation when OwnerID or FileID change).
    owner_id: str | None = None
    file_id: str | None = None


@dataclass(frozen=True)
class DownloadFile:
    name: str
    content: str
    media_type: str


@dataclass(frozen=True)
class WebConnectorSetup:
    """What a person needs to add the connection to their Web Connector: the .qwc file and the password,
    shown once. Only `password_hash` is kept."""

    file: DownloadFile
    user_name: str
    password: str
    password_hash: str
    owner_id: str
    file_id: str


class WebConnectorFlow(ConnectFlow):
    """QuickBooks Desktop: we generate a .qwc file and a password; the person adds the file to the Web
    Connector and types the password there. The connection goes live on the Web Connector's first
    authenticate with that password. The password is only ever verified, so only its hash is stored."""

    kind: ClassVar[str] = "web_connector"
    grant_keys: tuple[str, ...] = (PASSWORD_HASH_KEY,)

    def __init__(self, app_name: str, description: str = "", qb_type: str = "QBFS") -> None:
        self.app_name = app_name
        self.description = description
        self.qb_type = qb_type

    def setup(self, config: ProviderConfig, user_name: str) -> WebConnectorSetup:
        cfg = WebConnectorConfig.coerce(config)
        # One OwnerID per app (derived from the service URL, so every connection of a deployment shares it);
        # one FileID per company file, new for a new connection.
        owner = cfg.owner_id or "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, cfg.app_url)).upper() + "}"
        file_id = cfg.file_id or "{" + str(uuid.uuid4()).upper() + "}"
        password = secrets.token_urlsafe(18)
        root = ET.Element("QBWCXML")
        for tag, text in (
            ("AppName", self.app_name),
            ("AppID", ""),
            ("AppURL", cfg.app_url),
            ("AppDescription", self.description),
            ("AppSupport", cfg.app_support_url or cfg.app_url),
            ("UserName", user_name),
            ("OwnerID", owner),
            ("FileID", file_id),
            ("QBType", self.qb_type),
        ):
            ET.SubElement(root, tag).text = text
        ET.SubElement(ET.SubElement(root, "Scheduler"), "RunEveryNMinutes").text = str(cfg.run_every_minutes)
        ET.SubElement(root, "IsReadOnly").text = "false"
        content = '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode")
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.app_name).strip("-") or "ledgersync"
        return WebConnectorSetup(
            file=DownloadFile(name=f"{safe}.qwc", content=content, media_type="application/xml"),
            user_name=user_name,
            password=password,
            password_hash=hash_password(password),
            owner_id=owner,
            file_id=file_id,
        )


__all__ = [
    "PASSWORD_HASH_KEY",
    "ApiKeyFlow",
    "ConnectFlow",
    "CredentialField",
    "DownloadFile",
    "Grant",
    "OAuth2CodeFlow",
    "WebConnectorConfig",
    "WebConnectorFlow",
    "WebConnectorSetup",
]
