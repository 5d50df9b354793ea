"""The Xero Accounting API connector: OAuth2, client, mapping, errors and the provider."""

from ledgersync.providers.xero.client import XeroClient, idempotency_key_for
from ledgersync.providers.xero.oauth import (
    DEFAULT_SCOPES,
    XeroEndpoints,
    XeroOAuth,
    new_state,
    parse_callback,
)
from ledgersync.providers.xero.provider import XERO_CAPABILITIES, XeroProvider

__all__ = [
    "DEFAULT_SCOPES",
    "XERO_CAPABILITIES",
    "XeroClient",
    "XeroEndpoints",
    "XeroOAuth",
    "XeroProvider",
    "idempotency_key_for",
    "new_state",
    "parse_callback",
]
