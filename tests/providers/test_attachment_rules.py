"""The platforms' attachment rules as capability data: the reasons a file is refused, in words."""

from __future__ import annotations

from ledgersync.capabilities import attachments_cell
from ledgersync.providers.dear.provider import DEAR_CAPABILITIES
from ledgersync.providers.qbo.attachments import QBO_ATTACHMENTS
from ledgersync.providers.qbo.provider import QBO_CAPABILITIES
from ledgersync.providers.xero.attachments import XERO_ATTACHMENTS
from ledgersync.providers.xero.provider import XERO_CAPABILITIES

MB = 1024 * 1024


def test_a_pdf_within_the_limits_passes_everywhere() -> None:
    for rules in (XERO_ATTACHMENTS, QBO_ATTACHMENTS):
        assert rules.problems("INV-1.pdf", "application/pdf", 2 * MB) == []


def test_size_is_said_in_megabytes_or_bytes_when_just_over() -> None:
    assert XERO_ATTACHMENTS.problems("a.pdf", "application/pdf", 11 * MB) == [
        ("too_large", "it is 11 MB (at most 10 MB)")
    ]
    assert XERO_ATTACHMENTS.problems("a.pdf", "application/pdf", 10 * MB + 1) == [
        ("too_large", "it is 10,485,761 bytes (at most 10,485,760 bytes)")
    ]
    assert QBO_ATTACHMENTS.problems("a.pdf", "application/pdf", 11 * MB) == []


def test_types_by_extension_and_where_the_platform_says_so_by_content_type() -> None:
    assert XERO_ATTACHMENTS.problems("tool.exe", "application/x-msdownload", 10) == [
        ("unsupported_type", "it is a .exe file")
    ]
    assert XERO_ATTACHMENTS.problems("README", "text/plain", 10) == [("unsupported_type", "its name has no file type")]
    # Xero names no content types; QuickBooks' guide pairs each extension with its own.
    assert XERO_ATTACHMENTS.problems("scan.png", "application/pdf", 10) == []
    assert QBO_ATTACHMENTS.problems("scan.png", "application/pdf", 10) == [
        ("unsupported_type", "a .png file must be sent as image/png")
    ]
    assert QBO_ATTACHMENTS.problems("a.7z", "application/x-7z-compressed", 10)[0][0] == "unsupported_type"


def test_the_capability_matrix_cell() -> None:
    assert attachments_cell(XERO_CAPABILITIES) == "up to 10 MB a file, 10 a document"
    assert attachments_cell(QBO_CAPABILITIES) == "up to 100 MB a file"
    assert attachments_cell(DEAR_CAPABILITIES) == "not supported by DEAR / Cin7 Core"
