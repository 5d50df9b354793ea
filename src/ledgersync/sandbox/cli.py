"""Typer commands that run sandboxes in the foreground (mounted as `ledgersync sandbox`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from .qbo import QboSandbox
    from .xero import XeroSandbox

sandbox_app = typer.Typer(help="Run local emulators of accounting platforms.", no_args_is_help=True)


def _preregister(
    sb: XeroSandbox | QboSandbox,
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


# ---- QuickBooks Desktop (qbd-sandbox) ------------------------------------------------------------------------------
@sandbox_app.command("qbd")
def qbd(
    app_url: str | None = typer.Option(None, "--app-url", help="The web service the Web Connector polls (overrides "
                                       "the .qwc's AppURL)."),
    qwc: Path | None = typer.Option(None, "--qwc", help="The application's .qwc file.", exists=True, dir_okay=False),
    password: str | None = typer.Option(None, "--password", help="The password the .qwc's UserName signs in with."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (the control API)."),
    port: int = typer.Option(8767, help="Port of the control API."),
    data: Path | None = typer.Option(
        None, "--data", help="JSON state file: loaded at start; every change is written through before it is answered."
    ),
    seconds_per_minute: float = typer.Option(60.0, "--seconds-per-minute", help="Scale of the .qwc's schedule."),
    auto_run: bool = typer.Option(True, "--auto-run/--no-auto-run", help="Run on the .qwc's schedule."),
    schema_dir: Path | None = typer.Option(None, "--schema-dir", help="A folder holding Intuit's qbxmlops130.xsd: "
                                           "request sets are validated against it.", file_okay=False),
) -> None:
    """Serve the QuickBooks Desktop sandbox: a company file and a Web Connector polling --app-url, with the
    /_sandbox control API (POST /_sandbox/webconnector/run is "Update Selected")."""
    import uvicorn

    from .qbd import QbdSandbox, create_app, parse_qwc

    if (qwc is None) != (password is None):
        raise typer.BadParameter("--qwc and --password go together")
    sb = QbdSandbox.load(data) if data is not None else QbdSandbox()
    sb.config.update(seconds_per_minute=seconds_per_minute, auto_run=auto_run)
    if schema_dir is not None:
        if not (schema_dir / "qbxmlops130.xsd").exists():
            raise typer.BadParameter(f"no qbxmlops130.xsd in {schema_dir}", param_hint="--schema-dir")
        sb.config["schema_dir"] = str(schema_dir)
    if qwc is not None and password is not None:
        text = qwc.read_text(encoding="utf-8")
        try:
            parse_qwc(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--qwc") from exc
        sb.qwc, sb.password, sb.app_url = text, password, app_url
    elif app_url is not None:
        sb.app_url = app_url
    sb.dirty = True
    sb.save()
    typer.echo(f"QuickBooks Desktop sandbox: control API on http://{host}:{port}/_sandbox; Web Connector polls "
               f"{sb.app_url or 'the .qwc AppURL (none loaded yet)'}")
    uvicorn.run(create_app(sb), host=host, port=port, log_level="info")
