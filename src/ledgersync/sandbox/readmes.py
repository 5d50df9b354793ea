"""Regenerate the routing tables in both sandbox READMEs: `python -m ledgersync.sandbox.readmes`."""

from __future__ import annotations

from pathlib import Path

from .common.readme import rewrite
from .qbo.routes import served_markdown as qbo_markdown
from .xero.routes import served_markdown as xero_markdown

MODULE = "ledgersync.sandbox.readmes"


def main() -> None:
    here = Path(__file__).parent
    rewrite(here / "xero" / "README.md", MODULE, xero_markdown())
    rewrite(here / "qbo" / "README.md", MODULE, qbo_markdown())


if __name__ == "__main__":
    main()
