"""Scale-out harness shared by the worker tests and `benchmarks/scale.py`: a business's records to sync, a
scratch PostgreSQL database, and a connection made through a sandbox's consent page.

    from ledgersync.testing.harness import business, connect_by_consent, scratch_database

    with scratch_database(os.environ["LEDGERSYNC_TEST_POSTGRES_URL"], "bench_1") as url:
        ls = LedgerSync(url, migrate=True)
        org, conn = connect_by_consent(ls, "Business 1", "xero", config, tenant_id)
        ls.upsert_many(org, business("B1", contacts=10, invoices=45))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ledgersync.demo import consent_callback
from ledgersync.engine import LedgerSync
from ledgersync.model import Allocation, Contact, Invoice, InvoiceLine, Payment, Record


def invoice_number(prefix: str, i: int) -> str:
    """The number `business` gives its invoice `i` (what a check of the platform's copy looks for)."""
    return f"{prefix}-{i:04d}"


def business(prefix: str, contacts: int, invoices: int) -> list[Record]:
    """`contacts` contacts, `invoices` invoices spread over them (one line each, account 200, no tax), and a
    payment of each invoice in full (account 090). Invoice numbers (`invoice_number`) and payment references are
    unique to `prefix`, so several businesses can share one platform organisation or app."""
    out: list[Record] = [Contact(id=f"c{i}", name=f"{prefix} Customer {i:03d}") for i in range(contacts)]
    for i in range(invoices):
        amount = Decimal(40 + (i % 13) * 5)
        out.append(
            Invoice(
                id=f"i{i}",
                contact_id=f"c{i % contacts}",
                number=invoice_number(prefix, i),
                date=dt.date(2026, 11, 1) + dt.timedelta(days=i % 20),
                lines=[
                    InvoiceLine(
                        description=f"Job {i}",
                        quantity=Decimal(1),
                        unit_amount=amount,
                        account_code="200",
                        tax_type="NONE",
                    )
                ],
            )
        )
        out.append(
            Payment(
                id=f"p{i}",
                date=dt.date(2026, 11, 25),
                amount=amount,
                account_code="090",
                reference=f"{prefix}-R{i}",
                allocations=[Allocation(invoice_id=f"i{i}", amount=amount)],
            )
        )
    return out


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database `name` on the server of `server_url` (a user who may create
    databases); yields its URL and drops it afterwards, sessions still open on it included."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def connect_by_consent(
    ls: LedgerSync,
    org_name: str,
    provider: str,
    config: Mapping[str, str],
    tenant_id: str,
    tenant_field: str = "tenantId",
) -> tuple[str, str]:
    """A new organisation of the app connected to the sandbox's tenant `tenant_id` the way a person does it:
    the consent page is filled in (`tenant_field` picks the tenant: Xero tenantId, QuickBooks realmId) and the
    callback completed. Returns (organisation id, connection id)."""
    org = ls.create_organisation(org_name)
    start = ls.connect(org, provider, dict(config))
    if start.authorization_url is None:
        raise ValueError(f"{provider} does not connect through a consent page")
    callback = consent_callback(start.authorization_url, choose={tenant_field: tenant_id})
    # The app's grants may list every tenant connected so far: pick the one just consented to.
    conn = ls.complete_callback(callback, lambda tenants: next(t for t in tenants if t.id == tenant_id))
    return org, conn
