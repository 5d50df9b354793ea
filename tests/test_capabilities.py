"""The capability matrix is generated from the providers' data, and the docs hold exactly that table."""

from __future__ import annotations

from pathlib import Path

from ledgersync import capabilities
from ledgersync.providers.registry import PROVIDERS

DOC = Path(__file__).resolve().parent.parent / "docs" / "capabilities.md"


def test_the_docs_table_is_the_generated_one() -> None:
    assert DOC.read_text() == capabilities.markdown(), (
        "regenerate: ledgersync capabilities --markdown > docs/capabilities.md"
    )


def test_every_provider_has_a_column_and_every_row_reads_a_real_capability() -> None:
    for label, row in capabilities.matrix():
        assert set(row) == set(PROVIDERS), label
    assert {attr for _, attr in capabilities.ROWS} <= set(type(PROVIDERS["xero"].capabilities).__dataclass_fields__)


def test_the_matrix_reflects_what_each_platform_can_do() -> None:
    rows = dict(capabilities.matrix())
    assert rows["One payment to several invoices"] == {
        "qbo": True,
        "xero": False,
        "myob": True,
        "dear": False,
        "qbd": True,
    }
    assert rows["Sub-customers"] == {"qbo": True, "xero": False, "myob": False, "dear": False, "qbd": True}
    assert rows["Live updates (webhooks)"]["myob"] is False
