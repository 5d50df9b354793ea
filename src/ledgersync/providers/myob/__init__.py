"""The MYOB Business API connector (AccountRight Live v2 / MYOB Business): OAuth2, client, mapping, errors and
the provider."""

from ledgersync.providers.myob.client import MyobClient, myob_policies
from ledgersync.providers.myob.config import MyobConfig
from ledgersync.providers.myob.oauth import DEFAULT_SCOPES, MyobEndpoints, MyobOAuth, parse_callback
from ledgersync.providers.myob.provider import MYOB_CAPABILITIES, MyobProvider

__all__ = [
    "DEFAULT_SCOPES",
    "MYOB_CAPABILITIES",
    "MyobClient",
    "MyobConfig",
    "MyobEndpoints",
    "MyobOAuth",
    "MyobProvider",
    "myob_policies",
    "parse_callback",
]
