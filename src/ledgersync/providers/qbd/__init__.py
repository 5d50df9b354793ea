"""QuickBooks Desktop through the QuickBooks Web Connector: SOAP service, qbXML 13.0, mailbox and provider."""

from ledgersync.providers.qbd.config import QbdConfig
from ledgersync.providers.qbd.provider import QBD_CAPABILITIES, QbdProvider

__all__ = ["QBD_CAPABILITIES", "QbdConfig", "QbdProvider"]
