"""Typer commands that run sandboxes in the foreground (mounted as `ledgersync sandbox`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from .myob import MyobSandbox
    from .qbo import QboSandbox
    from .xero import XeroSandbox

sandbox_app = typer.Typer(help="Run local emulators of accounting platforms.", no_args_is_help=True)


def _preregister(
    sb: XeroSandbox | QboSandbox | MyobSandbox,
    client_id: str | None,
    client_secret: str | None,
    redirect_uri: list[str],
    tenant: list[str],
    demo: bool = True,
) -> None:
    """Apply --client-id/--client-secret/--redirect-uri and --tenant to a (possibly loaded) sandbox state."""
    if client_id:
        if not client_secret:
            raise typer.BadParameter("--client-secret is required with --client-id")
        existing = sb.apps.get(client_id)
        if existing is None:
            sb.add_app(client_id, client_secret, redirect_uri)
        else:
            existing.client_secret = client_secret
            existing.redirect_uris = sorted(set(existing.redirect_uris) | set(redirect_uri))
    for name in tenant:
        if not any(t.name == name for t in sb.tenants.values()):
            # A tenant made here is for people to try things against: it comes with a small company's records
            # unless --no-demo asks for an empty one (tests that count what they create).
            sb.add_tenant(name, demo=demo)


@sandbox_app.command("xero")
def xero(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8765, help="Port to listen on."),
    data: Path | None = typer.Option(
        None, "--data", help="JSON state file: loaded at start; every change is written through before it is answered."
    ),
    client_id: str | None = typer.Option(None, "--client-id", help="Pre-register an OAuth app with this id."),
    client_secret: str | None = typer.Option(None, "--client-secret", help="Secret for --client-id."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Redirect URI(s) for --client-id."),
    tenant: list[str] = typer.Option(
        [], "--tenant", help="Pre-create an organisation of this name, holding a small demo company."
    ),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Fill --tenant organisations with demo records."),
) -> None:
    """Serve the Xero sandbox (Accounting API, identity, webhooks, /_sandbox control API)."""
    import uvicorn

    from .xero import XeroSandbox, create_app

    sb = XeroSandbox.load(data) if data is not None else XeroSandbox()
    _preregister(sb, client_id, client_secret, redirect_uri, tenant, demo)
    sb.save()  # what was pre-registered is on disk before the first request
    typer.echo(f"Xero sandbox on http://{host}:{port}  (API /api.xro/2.0, control /_sandbox)")
    uvicorn.run(create_app(sb), host=host, port=port, log_level="info")


@sandbox_app.command("qbo")
def qbo(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8766, help="Port to listen on."),
    data: Path | None = typer.Option(
        None, "--data", help="JSON state file: loaded at start; every change is written through before it is answered."
    ),
    client_id: str | None = typer.Option(None, "--client-id", help="Pre-register an OAuth app with this id."),
    client_secret: str | None = typer.Option(None, "--client-secret", help="Secret for --client-id."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Redirect URI(s) for --client-id."),
    tenant: list[str] = typer.Option(
        [], "--tenant", help="Pre-create a company (realm) of this name, holding a small demo company."
    ),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Fill --tenant companies with demo records."),
) -> None:
    """Serve the QuickBooks Online sandbox (Accounting API v3, Intuit OAuth, webhooks, /_sandbox control API)."""
    import uvicorn

    from .qbo import QboSandbox
    from .qbo import create_app as create_qbo_app

    sb = QboSandbox.load(data) if data is not None else QboSandbox()
    _preregister(sb, client_id, client_secret, redirect_uri, tenant, demo)
    sb.save()  # what was pre-registered is on disk before the first request
    typer.echo(
        f"QBO sandbox on http://{host}:{port}  (API /v3/company/{{realmId}}, "
        "discovery /.well-known/openid_configuration, control /_sandbox)"
    )
    uvicorn.run(create_qbo_app(sb), host=host, port=port, log_level="info")


@sandbox_app.command("myob")
def myob(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8767, help="Port to listen on."),
    data: Path | None = typer.Option(
        None, "--data", help="JSON state file: loaded at start; every change is written through before it is answered."
    ),
    client_id: str | None = typer.Option(None, "--client-id", help="Pre-register an app with this API key."),
    client_secret: str | None = typer.Option(None, "--client-secret", help="Secret for --client-id."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Redirect URI(s) for --client-id."),
    tenant: list[str] = typer.Option(
        [], "--tenant", help="Pre-create a business (company file) of this name, holding a small demo company."
    ),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Fill --tenant businesses with demo records."),
) -> None:
    """Serve the MYOB Business API sandbox (/accountright/, MYOB OAuth at /oauth2/, /_sandbox control API)."""
    import uvicorn

    from .myob import MyobSandbox
    from .myob import create_app as create_myob_app

    sb = MyobSandbox.load(data) if data is not None else MyobSandbox()
    _preregister(sb, client_id, client_secret, redirect_uri, tenant, demo)
    sb.save()  # what was pre-registered is on disk before the first request
    typer.echo(
        f"MYOB sandbox on http://{host}:{port}  (API /accountright/, OAuth /oauth2/account/authorize and "
        "/oauth2/v1/authorize, control /_sandbox; no webhooks, as MYOB has none)"
    )
    uvicorn.run(create_myob_app(sb), host=host, port=port, log_level="info")
