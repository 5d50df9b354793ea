"""ledgersync: two-way sync between a business application and accounting platforms.

The public surface: `LedgerSync` (the app-facing engine), `ActionCentre` (the fixes a person applies),
`EngineSettings`, the canonical model (Contact, Invoice, Payment, Entity, ...) and the `Provider` protocol
with its optional abilities. Names load on first use, so importing ledgersync (or a sandbox) stays cheap."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it.
_EXPORTS = {
    # the engine
    "LedgerSync": "ledgersync.engine.app",
    "Health": "ledgersync.engine.app",
    "RecordView": "ledgersync.engine.app",
    "EngineSettings": "ledgersync.engine.settings",
    "ConnectStart": "ledgersync.engine.connections",
    "CycleReport": "ledgersync.engine.sync",
    "ConnectionBusy": "ledgersync.engine.lease",
    "LeaseLost": "ledgersync.store",
    "ActionCentre": "ledgersync.engine.actions",
    "ActionError": "ledgersync.engine.actions",
    "Actor": "ledgersync.engine.actions",
    "PermissionDenied": "ledgersync.engine.actions",
    "Role": "ledgersync.engine.actions",
    "CheckReport": "ledgersync.engine.check",
    "check": "ledgersync.engine.check",
    "DivergenceView": "ledgersync.engine.actions",
    "VerifyReport": "ledgersync.engine.verify",
    "AttachmentRefused": "ledgersync.engine.attach",
    "AttachmentView": "ledgersync.engine.attach",
    "AttachmentState": "ledgersync.engine.attach",
    # the model
    "Address": "ledgersync.model",
    "Allocation": "ledgersync.model",
    "Contact": "ledgersync.model",
    "CreditNote": "ledgersync.model",
    "CustomerCredit": "ledgersync.model",
    "Entity": "ledgersync.model",
    "ErrorCode": "ledgersync.model",
    "Invoice": "ledgersync.model",
    "InvoiceLine": "ledgersync.model",
    "Item": "ledgersync.model",
    "Payment": "ledgersync.model",
    "Bill": "ledgersync.model",
    "BillPayment": "ledgersync.model",
    "PurchaseOrder": "ledgersync.model",
    "Refund": "ledgersync.model",
    "SalesReceipt": "ledgersync.model",
    "Supplier": "ledgersync.model",
    "ProviderError": "ledgersync.model",
    "Record": "ledgersync.model",
    "SyncError": "ledgersync.model",
    # providers
    "Capabilities": "ledgersync.providers.base",
    "Finds": "ledgersync.providers.base",
    "Provider": "ledgersync.providers.base",
    "ProviderSpec": "ledgersync.providers.base",
    "ReceivesWebhooks": "ledgersync.providers.base",
    "Attaches": "ledgersync.providers.base",
    "AttachmentRules": "ledgersync.providers.base",
    "Restores": "ledgersync.providers.base",
    "WebhookRefused": "ledgersync.providers.base",
    "ConfigError": "ledgersync.providers.config",
    "ProviderConfig": "ledgersync.providers.config",
    "ApiKeyFlow": "ledgersync.providers.connect",
    "CredentialField": "ledgersync.providers.connect",
    "OAuth2CodeFlow": "ledgersync.providers.connect",
    "WebConnectorFlow": "ledgersync.providers.connect",
}

__all__ = [
    "ActionCentre",
    "ActionError",
    "Actor",
    "Address",
    "Allocation",
    "ApiKeyFlow",
    "Attaches",
    "AttachmentRefused",
    "AttachmentRules",
    "AttachmentState",
    "AttachmentView",
    "Bill",
    "BillPayment",
    "Capabilities",
    "CheckReport",
    "ConfigError",
    "ConnectStart",
    "ConnectionBusy",
    "Contact",
    "CredentialField",
    "CreditNote",
    "CustomerCredit",
    "CycleReport",
    "DivergenceView",
    "EngineSettings",
    "Entity",
    "ErrorCode",
    "Finds",
    "Health",
    "Invoice",
    "InvoiceLine",
    "Item",
    "LeaseLost",
    "LedgerSync",
    "OAuth2CodeFlow",
    "Payment",
    "PermissionDenied",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderSpec",
    "PurchaseOrder",
    "ReceivesWebhooks",
    "Record",
    "RecordView",
    "Refund",
    "Restores",
    "Role",
    "SalesReceipt",
    "Supplier",
    "SyncError",
    "VerifyReport",
    "WebConnectorFlow",
    "WebhookRefused",
    "__version__",
    "check",
]

if TYPE_CHECKING:
    from ledgersync.engine.actions import ActionCentre, ActionError, Actor, DivergenceView, PermissionDenied, Role
    from ledgersync.engine.app import Health, LedgerSync, RecordView
    from ledgersync.engine.attach import AttachmentRefused, AttachmentState, AttachmentView
    from ledgersync.engine.check import CheckReport, check
    from ledgersync.engine.connections import ConnectStart
    from ledgersync.engine.lease import ConnectionBusy
    from ledgersync.engine.settings import EngineSettings
    from ledgersync.engine.sync import CycleReport
    from ledgersync.engine.verify import VerifyReport
    from ledgersync.model import (
        Address,
        Allocation,
        Bill,
        BillPayment,
        Contact,
        CreditNote,
        CustomerCredit,
        Entity,
        ErrorCode,
        Invoice,
        InvoiceLine,
        Item,
        Payment,
        ProviderError,
        PurchaseOrder,
        Record,
        Refund,
        SalesReceipt,
        Supplier,
        SyncError,
    )
    from ledgersync.providers.base import (
        Attaches,
        AttachmentRules,
        Capabilities,
        Finds,
        Provider,
        ProviderSpec,
        ReceivesWebhooks,
        Restores,
        WebhookRefused,
    )
    from ledgersync.providers.config import ConfigError, ProviderConfig
    from ledgersync.providers.connect import ApiKeyFlow, CredentialField, OAuth2CodeFlow, WebConnectorFlow
    from ledgersync.store import LeaseLost


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
