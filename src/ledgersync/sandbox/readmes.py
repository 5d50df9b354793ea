"""Regenerate the routing tables in the sandbox READMEs: `python -m ledgersync.sandbox.readmes`."""

from __future__ import annotations

from pathlib import Path

from .common.readme import rewrite
from .qbd.routes import served_markdown as qbd_markdown
from .qbo.routes import served_markdown as qbo_markdown
from .xero.routes import served_markdown as xero_markdown

MODULE = "ledgersync.sandbox.readmes"


def main() -> None:
    here = Path(__file__).parent
    rewrite(here / "xero" / "README.md", MODULE, xero_markdown())
    rewrite(here / "qbo" / "README.md", MODULE, qbo_markdown())
    rewrite(here / "qbd" / "README.md", MODULE, qbd_markdown())


if __name__ == "__main__":
    main()
