"""The `ledgersync` command line: demo, sync, status and the local platform sandboxes."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from ledgersync import (
    ActionCentre,
    ActionError,
    Actor,
    ConnectionBusy,
    CycleReport,
    Entity,
    Health,
    LeaseLost,
    LedgerSync,
    PermissionDenied,
    ProviderError,
    Role,
)
from ledgersync.store import SecretKeyError
from ledgersync.store.tables import Connection

console = Console()

# Exit codes: 1 the work failed (the platform refused, a conflict), 2 the command or its setup is wrong
# (unknown id, keys that do not fit the store), 3 try again later (the connection is busy).
EXIT_FAILED, EXIT_SETUP, EXIT_BUSY = 1, 2, 3


def expected_failure(exc: BaseException) -> tuple[str, int] | None:
    """One line and an exit code for each failure a person can meet; None for a bug (its traceback stays)."""
    from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

    if isinstance(exc, ConnectionBusy):
        return "that connection is being synced by another process right now; try again shortly", EXIT_BUSY
    if isinstance(exc, LeaseLost):
        return "another process took that connection over meanwhile (nothing was saved); try again shortly", EXIT_BUSY
    if isinstance(exc, SecretKeyError):
        return str(exc), EXIT_SETUP
    if isinstance(exc, ProviderError):
        return f"{exc.error.message} {exc.error.hint or ''}".strip(), EXIT_FAILED
    if isinstance(exc, PermissionDenied | ActionError):
        return str(exc), EXIT_FAILED
    if isinstance(exc, IntegrityError):
        return "that conflicts with a record already in the store (nothing was changed)", EXIT_FAILED
    if isinstance(exc, ArgumentError):
        # A URL no installed driver opens ("foo://", "postgres://" without a driver): say what one looks like.
        return (
            f"the database URL cannot be used ({exc}); give one like postgresql+psycopg://user@host:5432/name "
            "or sqlite:///path/to/file.db (--db or LEDGERSYNC_DATABASE_URL)",
            EXIT_SETUP,
        )
    if isinstance(exc, OperationalError):
        return f"the database cannot be used: {str(exc.orig).strip() or type(exc.orig).__name__}", EXIT_SETUP
    if isinstance(exc, KeyError | LookupError):
        detail = exc.args[0] if exc.args else "not found"
        return str(detail), EXIT_SETUP
    return None


class _Commands(TyperGroup):
    """Every command's expected failures become one red line and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            found = expected_failure(exc)
            if found is None:
                raise
            message, code = found
            console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
            raise typer.Exit(code) from None


app = typer.Typer(
    help="Two-way sync between your app and accounting platforms.",
    no_args_is_help=True,
    add_completion=False,
    cls=_Commands,
)

try:  # the sandboxes are optional at run time but ship with the package
    from ledgersync.sandbox.cli import sandbox_app

    app.add_typer(sandbox_app, name="sandbox", help="Run a local emulator of an accounting platform's API.")
except ImportError:  # pragma: no cover
    pass

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: LEDGERSYNC_DATABASE_URL or sqlite:///.ledgersync/ledgersync.db)"),
]

# A command that works on one connection or, by default, on every one that is connected.
EveryConnOption = Annotated[str | None, typer.Option(help="Connection id (default: every connected one)")]


def _target_connections(ls: LedgerSync, connection: str | None) -> list[Connection]:
    """The connection named, else every connected (or parked) one; exits 0 with a note when there are none."""
    conns = (
        [ls.connection(connection)]
        if connection
        else [c for c in ls.connections() if c.status in ("connected", "parked")]
    )
    if not conns:
        console.print("No connected connections.")
        raise typer.Exit(0)
    return conns


STATE_STYLE = {
    "synced": "green",
    "failed": "red",
    "pending": "yellow",
    "syncing": "cyan",
    "skipped": "magenta",
    "excluded": "dim",
    "not_synced": "white",
    "needs_review": "yellow",
}


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


class _ProgressSink:
    """Feeds the engine's progress callbacks into Rich bars, one bar per phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, n: int, total: int | None) -> None:
        task = self.tasks.get(phase)
        if task is None:
            task = self.progress.add_task(phase, total=total)
            self.tasks[phase] = task
        self.progress.update(task, advance=n, total=total)


def _summary(health: Health, report: CycleReport | None = None) -> Table:
    table = Table(title=f"{health.display_name} — {health.tenant_name or 'not connected'}", show_lines=False)
    table.add_column("record")
    states = ["synced", "pending", "syncing", "failed", "skipped", "excluded", "needs_review"]
    for st in states:
        table.add_column(st, justify="right", style=STATE_STYLE.get(st))
    for entity, counts in sorted(health.counts.items()):
        table.add_row(entity, *[str(counts.get(st, 0) or "") for st in states])
    return table


def _print_health(health: Health) -> None:
    console.print(_summary(health))
    style = "red" if health.stale or health.status != "connected" else "green"
    console.print(
        f"[{style}]{health.last_sync_phrase()}[/]  status: {health.status}"
        + (f" — {health.status_reason}" if health.status_reason else "")
    )
    if health.stale:
        console.print(
            "[red]Warning: no successful sync within the stale period; check the connection "
            "(Refresh link) if this persists.[/]"
        )
    console.print(f"API calls used so far: {health.calls}")
    console.print(health.schedule_phrase())


def _stop_then(progress: Progress, then: Callable[[LedgerSync, Any], None], ls: LedgerSync, result: Any) -> None:
    progress.stop()  # the bars must not redraw over the summary and the server's output
    then(ls, result)


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit after the syncs instead of serving the dashboard and syncing on")
    ] = False,
    workdir: Annotated[Path, typer.Option(help="Where the demo's SQLite database goes")] = Path("ledgersync-demo"),
    every: Annotated[float, typer.Option(help="Seconds between syncs while serving")] = 60.0,
    host: Annotated[str, typer.Option(help="Address the dashboard listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the dashboard and REST API")] = 8000,
    contacts: int = 40,
    invoices: int = 200,
) -> None:
    """Sync a sample business two ways with local Xero, QuickBooks Online and MYOB sandboxes, over the real OAuth flow;
    then serve the dashboard (unless --once)."""
    from ledgersync.demo import DemoResult, run_demo

    failed = False

    def summary(ls: LedgerSync, result: DemoResult) -> None:
        nonlocal failed
        for conn_id, report in (
            (result.connection_id, result.check),
            (result.qbo_connection_id, result.qbo_check),
            (result.myob_connection_id, result.myob_check),
            (result.dear_connection_id, result.dear_check),
        ):
            if conn_id is None or report is None:
                continue
            health = ls.health(conn_id)
            _print_health(health)
            if report.agree:
                console.print(f"[green]Both sides agree record for record[/] ({report.compared})")
            else:
                failed = True
                console.print(
                    f"[red]{len(report.differences)} differences between the app and {health.display_name}:[/]"
                )
                for d in report.differences[:20]:
                    console.print(f"  {d}")
        if result.qbd_connection_id is not None:  # QuickBooks Desktop through the Web Connector
            _print_health(ls.health(result.qbd_connection_id))
            failed_qbd = {e: n.get("failed", 0) for e, n in result.qbd_counts.items() if n.get("failed")}
            if failed_qbd:
                failed = True
                console.print(f"[red]QuickBooks Desktop: failed records {failed_qbd}[/]")
            else:
                console.print("[green]QuickBooks Desktop: every record synced through the Web Connector[/]")
        console.print(f"The Xero sandbox counted {result.sandbox_calls} API calls in all.")

    def serve(ls: LedgerSync, result: DemoResult) -> None:
        summary(ls, result)
        if once or failed:
            return
        import secrets

        import uvicorn

        from ledgersync.api import create_app
        from ledgersync.api.settings import ApiSettings
        from ledgersync.web.auth import create_user

        password = secrets.token_urlsafe(9)
        create_user(ls.store, "admin@example.com", password, result.org_id, "owner", name="Demo Admin")
        # Local development: the demo's sandboxes and webhook receivers live on loopback.
        settings = ApiSettings.from_env(
            f"sqlite:///{workdir / 'ledgersync.db'}",
            sync_every_seconds=every,
            allow_private_urls=True,
            allowed_base_urls=["http://127.0.0.1:*"],
        )
        web = create_app(ls, settings=settings, start_scheduler=True)
        console.print(f"[bold]Dashboard and REST API: http://{host}:{port}/[/]")
        console.print(f"Sign in as admin@example.com with password {password}", soft_wrap=True)
        console.print(f"The sandboxes stay up and everything syncs every {every:.0f}s; press Ctrl-C to stop.")
        uvicorn.run(web, host=host, port=port, log_level="warning", proxy_headers=False)

    with _progress() as progress:
        run_demo(
            workdir,
            contacts=contacts,
            invoices=invoices,
            on_step=lambda m: progress.console.print(f"• {m}"),
            progress=_ProgressSink(progress),
            hold=lambda ls, result: _stop_then(progress, serve, ls, result),
        )
    if failed:
        raise typer.Exit(1)


@app.command()
def sync(
    db: DbOption = None,
    connection: EveryConnOption = None,
) -> None:
    """Run one sync cycle for one connection or for all of them."""
    ls = LedgerSync(db)
    conns = _target_connections(ls, connection)
    codes: list[int] = []
    for conn in conns:
        with _progress() as progress:
            try:
                report = ls.sync(conn.id, progress=_ProgressSink(progress))
            except ProviderError as exc:
                console.print(f"[red]{conn.id}: {exc.error.message}[/] {exc.error.hint}")
                codes.append(EXIT_FAILED)
                continue
            except (ConnectionBusy, SecretKeyError) as exc:
                # The other connections still sync; this one's line says why it did not.
                message, code = expected_failure(exc) or (str(exc), EXIT_FAILED)
                console.print(f"[red]{conn.id}: {escape(message)}[/]", soft_wrap=True)
                codes.append(code)
                continue
        console.print(
            f"{conn.id}: {report.status}; pulled {sum(report.pulled.values())}, pushed "
            f"{sum(report.pushed.values())}, failed {sum(report.failed.values())}, {report.calls} calls, "
            f"{report.seconds:.1f}s" + (f" — {report.message}" if report.message else "")
        )
        if report.status != "ok":
            codes.append(EXIT_FAILED)
    # Busy alone means "try again later" (3); any other failure wins (1 or 2).
    raise typer.Exit(0 if not codes else EXIT_BUSY if set(codes) == {EXIT_BUSY} else min(codes))


@app.command()
def status(db: DbOption = None) -> None:
    """Show each connection's health: last sync, staleness, records per state, calls used."""
    ls = LedgerSync(db)
    conns = ls.connections()
    if not conns:
        console.print("No connections yet.")
        return
    for conn in conns:
        _print_health(ls.health(conn.id))


def _connection(ls: LedgerSync, connection: str | None) -> str:
    if connection:
        return connection
    conns = ls.connections()
    if len(conns) != 1:
        console.print(
            "[red]Choose a connection with --connection:[/] "
            + ", ".join(f"{c.id} ({c.provider}, {c.tenant_name})" for c in conns)
        )
        raise typer.Exit(2)
    return conns[0].id


def _record_ref(ref: str) -> tuple[Entity, str]:
    kind, sep, app_id = ref.partition(":")
    if not sep:
        kind, sep, app_id = ref.partition("/")
    try:
        return Entity(kind), app_id
    except ValueError:
        raise typer.BadParameter(
            f"use ENTITY:ID, e.g. contact:cust-42 (entities: {', '.join(e.value for e in Entity)})"
        ) from None


ConnOption = Annotated[str | None, typer.Option("--connection", help="Connection id (default: the only one)")]
RoleOption = Annotated[
    Role,
    typer.Option(
        "--as", help="Act as this role (owner/admin may skip, exclude, merge, link)", envvar="LEDGERSYNC_ROLE"
    ),
]


@app.command()
def errors(
    db: DbOption = None,
    connection: ConnOption = None,
    entity: Annotated[str | None, typer.Option(help="Only this record type")] = None,
) -> None:
    """Records that did not sync: why, in plain words, and the fixes that fit."""
    ls = LedgerSync(db)
    conns = [connection] if connection else [c.id for c in ls.connections()]
    ac = ActionCentre(ls)
    for conn in conns:
        rows = ac.errors(conn, Entity(entity) if entity else None)
        health = ls.health(conn)
        where = f"{health.display_name} ({health.tenant_name or conn})"
        if not rows:
            console.print(f"[green]No sync errors with {where}.[/]")
            continue
        table = Table(title=f"{where}: {len(rows)} record(s) need attention")
        for col in ("record", "document", "what happened", "what to do", "fixes"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                f"{r.entity.value}:{r.app_id}", r.doc_number or "", r.message or "", r.hint or "", ", ".join(r.actions)
            )
        console.print(table)


@app.command()
def resolve(
    record: Annotated[str, typer.Argument(help="ENTITY:ID, e.g. contact:cust-42")],
    db: DbOption = None,
    connection: ConnOption = None,
    role: RoleOption = Role.OWNER,
    retry: Annotated[bool, typer.Option(help="Try again now")] = False,
    skip: Annotated[bool, typer.Option(help="Keep the app's copy; take it off the error list")] = False,
    exclude: Annotated[bool, typer.Option(help="Do not sync this record")] = False,
    include: Annotated[bool, typer.Option(help="Sync this record again")] = False,
    merge_into: Annotated[str | None, typer.Option(help="Use this existing platform contact ('auto': by name)")] = None,
    link: Annotated[str | None, typer.Option(help="Link to this platform record id")] = None,
    record_credit: Annotated[bool, typer.Option(help="Record a payment's excess as customer credit")] = False,
    restore: Annotated[bool, typer.Option(help="Un-archive the platform contact")] = False,
    keep_app: Annotated[bool, typer.Option(help="Conflict or drifted: send the app's version")] = False,
    keep_platform: Annotated[bool, typer.Option(help="Conflict or drifted: take the platform's version")] = False,
) -> None:
    """Apply one fix to a failed, conflicting or drifted record."""
    ls = LedgerSync(db)
    conn = _connection(ls, connection)
    entity, app_id = _record_ref(record)
    ac = ActionCentre(ls)
    actor = Actor(getpass.getuser(), role)
    chosen = [
        n
        for n, v in (
            ("retry", retry),
            ("skip", skip),
            ("exclude", exclude),
            ("include", include),
            ("merge", merge_into),
            ("link", link),
            ("record_credit", record_credit),
            ("restore", restore),
            ("keep_app", keep_app),
            ("keep_platform", keep_platform),
        )
        if v
    ]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "choose exactly one fix: --retry, --skip, --exclude, --include, --merge-into, "
            "--link, --record-credit, --restore, --keep-app or --keep-platform"
        )
    try:
        if retry:
            report = ac.retry(actor, conn, entity, app_id, now=True)
            state = ls.store.get_state(conn, entity, app_id)
            console.print(
                f"Retried: now {state.state if state else 'not_synced'}"
                + (f" ({report.calls} calls)" if report else "")
            )
        elif skip:
            ac.skip(actor, conn, entity, app_id)
        elif exclude:
            ac.exclude(actor, conn, entity, app_id)
        elif include:
            ac.include(actor, conn, entity, app_id)
        elif merge_into:
            rid = ac.merge(actor, conn, app_id, None if merge_into == "auto" else merge_into)
            console.print(f"Merged into platform contact {rid}")
        elif link:
            ac.link(actor, conn, entity, app_id, link)
        elif record_credit:
            credit = ac.record_credit(actor, conn, app_id)
            console.print(f"Excess recorded as customer credit {credit or '(held in the payment)'}; it syncs next")
        elif restore:
            ac.restore(actor, conn, app_id)
        elif keep_app:
            ac.keep_app(actor, conn, entity, app_id)
        elif keep_platform:
            ac.keep_platform(actor, conn, entity, app_id)
    except (PermissionDenied, ActionError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if not retry:
        console.print(f"{chosen[0].replace('_', ' ').capitalize()}: done for {entity.value}:{app_id}")


@app.command("sync-now")
def sync_now(
    db: DbOption = None,
    connection: ConnOption = None,
    record: Annotated[str | None, typer.Option(help="Only this record (ENTITY:ID) and what it needs")] = None,
    all_unsynced: Annotated[bool, typer.Option("--all-unsynced", help="Everything not yet synced, now")] = False,
) -> None:
    """Sync now: one record, one connection, or everything not yet synced."""
    ls = LedgerSync(db)
    conn = _connection(ls, connection)
    actor = Actor(getpass.getuser(), Role.MEMBER)
    entity, app_id = _record_ref(record) if record else (None, None)
    report = ActionCentre(ls).sync_now(actor, conn, entity, app_id, everything_not_synced=all_unsynced)
    console.print(
        f"{report.status}: pushed {sum(report.pushed.values())}, failed {sum(report.failed.values())}, "
        f"{report.calls} calls"
    )


# -- verify (issue 15) -----------------------------------------------------------------------------------
@app.command()
def verify(
    db: DbOption = None,
    connection: EveryConnOption = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Compare this many records, picked at random")] = None,
    call_budget: Annotated[
        int | None, typer.Option(min=1, help="Platform calls it may use (with --sample)")
    ] = None,
) -> None:
    """Check against the platform, field by field: records that differ become Drifted, with both versions and
    the fixes (resolve --keep-app / --keep-platform / --skip). Exit 1 when anything differs."""
    ls = LedgerSync(db)
    conns = [connection] if connection else [c.id for c in ls.connections() if c.status != "disconnected"]
    differs = False
    for conn in conns:
        health = ls.health(conn)
        where = f"{health.display_name} ({health.tenant_name or conn})"
        report = ls.verify(conn, sample=sample, call_budget=call_budget)
        differs = differs or not report.agree
        console.print(f"{'[green]' if report.agree else '[yellow]'}{where}: {report.summary()}[/]")
        if report.drifted:
            table = Table(title=f"Drifted from {health.display_name}")
            for col in ("record", "fields", "app", "platform"):
                table.add_column(col, overflow="fold")
            ac = ActionCentre(ls)
            for (entity, app_id), _fields in sorted(report.drifted.items()):
                view = ac.divergence(conn, Entity(entity), app_id)
                for f in view.fields if view else []:
                    table.add_row(f"{entity}:{app_id}", str(f["field"]), repr(f["app"]), repr(f["platform"]))
            console.print(table)
        for other in report.other:
            console.print(f"  {other}")
    raise typer.Exit(1 if differs else 0)


@app.command("log")
def event_log(
    db: DbOption = None,
    connection: ConnOption = None,
    doc: Annotated[str | None, typer.Option(help="Document number, e.g. INV-0042")] = None,
    search: Annotated[str | None, typer.Option(help="Text in the message, document number or record id")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, failed, retrying ...")] = None,
    kind: Annotated[str | None, typer.Option(help="call, push, pull, action, sync ...")] = None,
    limit: int = 50,
) -> None:
    """The event log: every call and outcome, newest first."""
    ls = LedgerSync(db)
    rows = ls.store.events(
        connection_id=connection, doc_number=doc, search=search, outcome=outcome, kind=kind, limit=limit
    )
    table = Table(title=f"{len(rows)} event(s)")
    for col in ("when", "kind", "record", "document", "outcome", "message"):
        table.add_column(col, overflow="fold")
    for e in rows:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.kind,
            f"{e.entity or ''}:{e.app_id or ''}".strip(":"),
            e.doc_number or "",
            e.outcome,
            e.message or "",
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    db: DbOption = None,
    sync_every: Annotated[
        float, typer.Option("--sync-every", help="Seconds between scheduled syncs of each connection")
    ] = 300.0,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run the in-process scheduler (syncs, webhooks)")
    ] = True,
) -> None:
    """Run the REST API, the dashboard and the scheduler in one process (uvicorn)."""
    import uvicorn

    from ledgersync.api import ApiSettings, create_app
    from ledgersync.store import default_url

    url = db or default_url()
    ls = LedgerSync(url)
    settings = ApiSettings.from_env(url, sync_every_seconds=sync_every)
    # Without the scheduler the workers do the work: Sync now and webhook refreshes go to their queue.
    enqueue = None
    if not scheduler:
        from ledgersync.worker.client import Enqueuer

        enqueue = Enqueuer()
    api = create_app(ls, settings=settings, start_scheduler=scheduler, enqueue=enqueue)
    console.print(
        f"ledgersync on http://{host}:{port} — API /v1 (docs /v1/docs), dashboard /; "
        + (
            f"syncing every {sync_every:.0f}s"
            if enqueue is None
            else f"scheduler off, enqueueing to {enqueue.settings.queue} on the workers' broker"
        )
    )
    console.print(
        "Create an organisation: POST /v1/organisations with the admin token (LEDGERSYNC_ADMIN_TOKEN "
        "or the admin.token file beside the database)."
    )
    # X-Forwarded-* are honoured by the app, from LEDGERSYNC_TRUSTED_PROXIES only, not by uvicorn's default.
    uvicorn.run(api, host=host, port=port, log_level="info", proxy_headers=False)


@app.command("export")
def export_all(
    what: Annotated[str, typer.Argument(help="products, customers or suppliers")],
    db: DbOption = None,
    connection: EveryConnOption = None,
) -> None:
    """One-time export of every product / customer / supplier to the platform, with progress and a summary."""
    ls = LedgerSync(db)
    conns = _target_connections(ls, connection)
    codes: list[int] = []
    for conn in conns:
        with _progress() as progress:
            try:
                summary = ls.export(conn.id, what, progress=_ProgressSink(progress))
            except ValueError as exc:
                console.print(f"[red]{escape(str(exc))}[/]")
                raise typer.Exit(EXIT_FAILED) from None
            except ProviderError as exc:
                console.print(f"[red]{conn.id}: {exc.error.message}[/] {exc.error.hint}")
                codes.append(EXIT_FAILED)
                continue
            except (ConnectionBusy, SecretKeyError) as exc:
                message, code = expected_failure(exc) or (str(exc), EXIT_FAILED)
                console.print(f"[red]{conn.id}: {escape(message)}[/]", soft_wrap=True)
                codes.append(code)
                continue
        console.print(f"{conn.id}: {summary.line()}", soft_wrap=True)
        if summary.failed or summary.waiting or summary.status != "ok":
            codes.append(EXIT_FAILED)
    raise typer.Exit(0 if not codes else EXIT_BUSY if set(codes) == {EXIT_BUSY} else min(codes))


@app.command()
def capabilities(
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print the Markdown table kept in the docs")] = False,
) -> None:
    """What each provider supports, from the providers' capability data."""
    from ledgersync import capabilities as caps

    if as_markdown:
        typer.echo(caps.markdown(), nl=False)
        return
    provs = caps.providers()
    table = Table(title="Provider capabilities")
    table.add_column("")
    for c in provs.values():
        table.add_column(c.display_name, justify="center")
    for label, row in caps.matrix():
        table.add_row(label, *["[green]yes[/]" if row[n] else "[dim]no[/]" for n in provs])
    for label, entity in caps.ENTITY_ROWS:
        table.add_row(label, *[caps.direction(c, entity) for c in provs.values()])
    console.print(table)


# -- scale-out (issue 13): Celery workers, beat, migrations run once, per-connection cadence -------------------
db_app = typer.Typer(help="The store's schema: migrations run once per deployment, not by every worker.", cls=_Commands)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Bring the database's schema to this version's head (run once before starting or after upgrading)."""
    from ledgersync.store import make_engine
    from ledgersync.store.database import current_revision

    LedgerSync(db, migrate=True)
    engine = make_engine(db)
    try:
        console.print(f"schema at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(db: DbOption = None) -> None:
    """The database's schema revision and this version's head; exit code 2 when they differ."""
    from ledgersync.store import make_engine
    from ledgersync.store.database import current_revision, head_revision

    engine = make_engine(db)
    try:
        have, want = current_revision(engine), head_revision(engine)
    finally:
        engine.dispose()
    console.print(f"database at {have or 'none'}, this version needs {want}")
    if have != want:
        raise typer.Exit(EXIT_SETUP)


def _worker_env(db: str | None, broker: str | None, queue: str | None) -> None:
    import os

    for name, value in (
        ("LEDGERSYNC_DATABASE_URL", db),
        ("LEDGERSYNC_BROKER_URL", broker),
        ("LEDGERSYNC_QUEUE", queue),
    ):
        if value:
            os.environ[name] = value


BrokerOption = Annotated[
    str | None, typer.Option("--broker", help="Celery broker URL (default: LEDGERSYNC_BROKER_URL or local Redis)")
]
QueueOption = Annotated[
    str | None, typer.Option("--queue", help="Queue name (default: LEDGERSYNC_QUEUE or ledgersync)")
]


@app.command()
def worker(
    db: DbOption = None,
    broker: BrokerOption = None,
    queue: QueueOption = None,
    concurrency: Annotated[int | None, typer.Option(help="Worker processes (default: the CPU count)")] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads")] = "prefork",
    loglevel: Annotated[str, typer.Option(help="Log level")] = "info",
    hostname: Annotated[str | None, typer.Option(help="Celery node name (default: ledgersync@<host>)")] = None,
    events: Annotated[bool, typer.Option("--events", "-E", help="Send task events (for Flower)")] = False,
) -> None:
    """Run a Celery worker: cycles, webhook refreshes, Sync now, webhook deliveries, pruning. Start as many as
    you like on as many machines; the store (PostgreSQL) must be at head (`ledgersync db upgrade`)."""
    _worker_env(db, broker, queue)
    from ledgersync.store import SchemaBehind
    from ledgersync.worker.tasks import SETTINGS, ledgersync
    from ledgersync.worker.tasks import app as celery

    try:
        ledgersync()  # fail here, clearly, if the store cannot be used or is behind
    except SchemaBehind as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_SETUP) from None
    argv = ["worker", "-Q", SETTINGS.queue, "--pool", pool, "--loglevel", loglevel, "--without-gossip"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    argv += ["--hostname", hostname or "ledgersync@%h"] + (["-E"] if events else [])
    celery.worker_main(argv)


@app.command()
def beat(
    db: DbOption = None,
    broker: BrokerOption = None,
    queue: QueueOption = None,
    schedule_file: Annotated[
        Path | None, typer.Option(help="Where beat keeps its last-run times (default: a temporary folder)")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Log level")] = "info",
) -> None:
    """Run Celery beat (one per deployment): every LEDGERSYNC_DISPATCH_EVERY seconds it enqueues the due
    connections' cycles (read from the store), plus webhook deliveries and pruning."""
    import tempfile

    _worker_env(db, broker, queue)
    from ledgersync.worker.tasks import app as celery

    path = schedule_file or Path(tempfile.mkdtemp(prefix="ledgersync-beat-")) / "schedule"
    celery.start(["beat", "--loglevel", loglevel, "--schedule", str(path)])


@app.command()
def schedule(
    db: DbOption = None,
    connection: ConnOption = None,
    every: Annotated[
        int | None, typer.Option(min=0, help="Sync this connection every this many seconds (0: off)")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Back to the platform's default cadence")] = False,
) -> None:
    """Show or set a connection's cadence (the scheduler's; webhooks and Sync now come on top)."""
    ls = LedgerSync(db)
    conn = _connection(ls, connection)
    if every is not None and default:
        raise typer.BadParameter("give --every or --default, not both")
    if every is not None or default:
        ls.set_sync_every(conn, None if default else every)
    console.print(f"{conn}: {ls.health(conn).schedule_phrase()}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
