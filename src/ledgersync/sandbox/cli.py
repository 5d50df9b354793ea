"""Typer commands that run sandboxes in the foreground (mounted as `ledgersync sandbox`)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def _host(help: str = "Interface to bind.") -> Any:
    return typer.Option("127.0.0.1", help=help)


def _port(default: int, help: str = "Port to listen on.") -> Any:
    return typer.Option(default, help=help)


def _data() -> Any:
    return typer.Option(
        None, "--data", help="JSON state file: loaded at start; every change is written through before it is answered."
    )


def _oauth_command(
    name: str, state_class: str, default_port: int, noun: str, nouns: str, doc: str, banner: str, client: str
) -> None:
    """One `sandbox <name>` command for an OAuth sandbox (module .<name>, state class `state_class`): the same
    options and steps, the platform's words in the help (`noun`/`nouns`: what --tenant creates; `client`: --client-id's
    help) and `banner` (formatted with host and port) on start."""

    def serve(
        host: str = _host(),
        port: int = _port(default_port),
        data: Path | None = _data(),
        client_id: str | None = typer.Option(None, "--client-id", help=client),
        client_secret: str | None = typer.Option(None, "--client-secret", help="Secret for --client-id."),
        redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Redirect URI(s) for --client-id."),
        tenant: list[str] = typer.Option(
            [], "--tenant", help=f"Pre-create {noun} of this name, holding a small demo company."
        ),
        demo: bool = typer.Option(True, "--demo/--no-demo", help=f"Fill --tenant {nouns} with demo records."),
    ) -> None:
        import uvicorn

        module = importlib.import_module(f".{name}", __package__)
        state = getattr(module, state_class)
        sb = state.load(data) if data is not None else state()
        _preregister(sb, client_id, client_secret, redirect_uri, tenant, demo)
        sb.save()  # what was pre-registered is on disk before the first request
        typer.echo(banner.format(host=host, port=port))
        uvicorn.run(module.create_app(sb), host=host, port=port, log_level="info")

    serve.__doc__ = doc
    sandbox_app.command(name)(serve)


_OAUTH_APP = "Pre-register an OAuth app with this id."
_oauth_command(
    "xero", "XeroSandbox", 8765, "an organisation", "organisations",
    "Serve the Xero sandbox (Accounting API, identity, webhooks, /_sandbox control API).",
    "Xero sandbox on http://{host}:{port}  (API /api.xro/2.0, control /_sandbox)",
    _OAUTH_APP,
)  # fmt: skip
_oauth_command(
    "qbo", "QboSandbox", 8766, "a company (realm)", "companies",
    "Serve the QuickBooks Online sandbox (Accounting API v3, Intuit OAuth, webhooks, /_sandbox control API).",
    "QBO sandbox on http://{host}:{port}  (API /v3/company/{{realmId}}, "
    "discovery /.well-known/openid_configuration, control /_sandbox)",
    _OAUTH_APP,
)  # fmt: skip
_oauth_command(
    "myob", "MyobSandbox", 8767, "a business (company file)", "businesses",
    "Serve the MYOB Business API sandbox (/accountright/, MYOB OAuth at /oauth2/, /_sandbox control API).",
    "MYOB sandbox on http://{host}:{port}  (API /accountright/, OAuth /oauth2/account/authorize and "
    "/oauth2/v1/authorize, control /_sandbox; no webhooks, as MYOB has none)",
    "Pre-register an app with this API key.",
)  # fmt: skip


# ---- QuickBooks Desktop (qbd-sandbox) ------------------------------------------------------------------------------
@sandbox_app.command("qbd")
def qbd(
    app_url: str | None = typer.Option(None, "--app-url", help="The web service the Web Connector polls (overrides "
                                       "the .qwc's AppURL)."),
    qwc: Path | None = typer.Option(None, "--qwc", help="The application's .qwc file.", exists=True, dir_okay=False),
    password: str | None = typer.Option(None, "--password", help="The password the .qwc's UserName signs in with."),
    host: str = _host("Interface to bind (the control API)."),
    port: int = _port(8768, "Port of the control API."),
    data: Path | None = _data(),
    seconds_per_minute: float = typer.Option(60.0, "--seconds-per-minute", help="Scale of the .qwc's schedule."),
    auto_run: bool = typer.Option(True, "--auto-run/--no-auto-run", help="Run on the .qwc's schedule."),
    schema_dir: Path | None = typer.Option(None, "--schema-dir", help="A folder holding Intuit's qbxmlops130.xsd: "
                                           "request sets are validated against it.", file_okay=False),
) -> None:
    """Serve the QuickBooks Desktop sandbox: a company file and a Web Connector polling --app-url, with the
    /_sandbox control API (POST /_sandbox/webconnector/run is "Update Selected")."""
    import uvicorn

    from .qbd import QbdSandbox, create_app, parse_qwc
    from .qbd.webconnector import check_app_url

    if (qwc is None) != (password is None):
        raise typer.BadParameter("--qwc and --password go together")
    sb = QbdSandbox.load(data) if data is not None else QbdSandbox()
    sb.config.update(seconds_per_minute=seconds_per_minute, auto_run=auto_run)
    if schema_dir is not None:
        if not (schema_dir / "qbxmlops130.xsd").exists():
            raise typer.BadParameter(f"no qbxmlops130.xsd in {schema_dir}", param_hint="--schema-dir")
        sb.config["schema_dir"] = str(schema_dir)
    if app_url is not None:
        try:
            check_app_url(app_url)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--app-url") from exc
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


# -- DEAR / Cin7 Core (issue 12) -----------------------------------------------------------------------------------
@sandbox_app.command("dear")
def dear(
    host: str = _host(),
    port: int = _port(8769),
    data: Path | None = _data(),
    account_id: str | None = typer.Option(None, "--account-id", help="Pre-create a company with this Account ID."),
    application_key: str | None = typer.Option(
        None, "--application-key", help="The API application key of --account-id (generated when left out)."
    ),
    tenant: str = typer.Option("Demo Company (AU) Pty Ltd", "--tenant", help="The company's name."),
) -> None:
    """Serve the DEAR / Cin7 Core sandbox (API v2 under /ExternalApi/v2/, webhooks, /_sandbox control API)."""
    import uvicorn

    from .dear import DearSandbox
    from .dear import create_app as create_dear_app

    sb = DearSandbox.load(data) if data is not None else DearSandbox()
    if application_key and not account_id:
        raise typer.BadParameter("--account-id is required with --application-key")
    if account_id:
        acct = sb.accounts.get(account_id)
        if acct is None or (application_key and application_key not in acct.applications):
            acct, key = sb.add_account(tenant, account_id, application_key)
        else:
            key = application_key or next(iter(acct.applications))
        typer.echo(f"Company {acct.name!r}: Account ID {acct.id}, Application Key {key}")
    sb.save()  # what was pre-created is on disk before the first request
    typer.echo(f"DEAR sandbox on http://{host}:{port}  (API /ExternalApi/v2/, control /_sandbox)")
    uvicorn.run(create_dear_app(sb), host=host, port=port, log_level="info")
