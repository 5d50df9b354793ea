"""The QuickBooks Online Accounting API connector: OAuth2, client, mapping, errors and the provider."""

from ledgersync.providers.qbo.client import QboClient, request_id_for
from ledgersync.providers.qbo.oauth import (
    ACCOUNTING_SCOPE,
    QboEndpoints,
    QboOAuth,
    QboToken,
    parse_callback,
    split_code,
)
from ledgersync.providers.qbo.provider import QBO_CAPABILITIES, QboProvider

__all__ = [
    "ACCOUNTING_SCOPE",
    "QBO_CAPABILITIES",
    "QboClient",
    "QboEndpoints",
    "QboOAuth",
    "QboProvider",
    "QboToken",
    "parse_callback",
    "request_id_for",
    "split_code",
]
