"""The `ledgersync` command line: demo, sync, status and the local platform sandboxes."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledgersync.engine import CycleReport, Health, LedgerSync
from ledgersync.model import ProviderError

app = typer.Typer(
    help="Two-way sync between your app and accounting platforms.", no_args_is_help=True, add_completion=False
)
console = Console()

try:  # the sandboxes are optional at run time but ship with the package
    from ledgersync.sandbox.cli import sandbox_app

    app.add_typer(sandbox_app, name="sandbox", help="Run a local emulator of an accounting platform's API.")
except ImportError:  # pragma: no cover
    pass

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: LEDGERSYNC_DATABASE_URL or sqlite:///.ledgersync/ledgersync.db)"),
]

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


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit after the two syncs instead of syncing on a cadence")
    ] = False,
    workdir: Annotated[Path, typer.Option(help="Where the demo's SQLite database goes")] = Path("ledgersync-demo"),
    every: Annotated[float, typer.Option(help="Seconds between syncs when running on")] = 30.0,
    contacts: int = 40,
    invoices: int = 200,
) -> None:
    """Sync a sample business two ways with a local Xero sandbox, over the real OAuth flow."""
    from ledgersync.demo import run_demo

    def keep_running(ls: LedgerSync, conn: str) -> None:
        if once:
            return
        console.print(f"[bold]Syncing every {every:.0f}s; press Ctrl-C to stop.[/]")
        try:
            while True:
                time.sleep(every)
                report = ls.sync(conn)
                console.print(
                    f"{dt.datetime.now():%H:%M:%S} sync {report.status}: pulled "
                    f"{sum(report.pulled.values())}, pushed {sum(report.pushed.values())}, "
                    f"{report.calls} calls"
                )
        except KeyboardInterrupt:
            console.print("Stopped.")

    with _progress() as progress:
        result = run_demo(
            workdir,
            contacts=contacts,
            invoices=invoices,
            on_step=lambda m: progress.console.print(f"• {m}"),
            progress=_ProgressSink(progress),
        )
    ls = LedgerSync(f"sqlite:///{workdir / 'ledgersync.db'}", key_file=workdir / "secret.key")
    _print_health(ls.health(result.connection_id))
    console.print(f"Sandbox counted {result.sandbox_calls} API calls in all.")
    if result.check.agree:
        console.print(f"[green]Both sides agree record for record[/] ({result.check.compared})")
    else:
        console.print(f"[red]{len(result.check.differences)} differences between the app and Xero:[/]")
        for d in result.check.differences[:20]:
            console.print(f"  {d}")
        raise typer.Exit(1)
    if not once:
        console.print("The sandbox stopped with the demo; run `ledgersync sandbox xero` to keep one up.")
        keep_running(ls, result.connection_id)


@app.command()
def sync(
    db: DbOption = None,
    connection: Annotated[str | None, typer.Option(help="Connection id (default: every connected one)")] = None,
) -> None:
    """Run one sync cycle for one connection or for all of them."""
    ls = LedgerSync(db)
    conns = (
        [ls.store.get_connection(connection)]
        if connection
        else [c for c in ls.connections() if c.status in ("connected", "parked")]
    )
    if not conns:
        console.print("No connected connections.")
        raise typer.Exit(0)
    failed = False
    for conn in conns:
        with _progress() as progress:
            try:
                report = ls.sync(conn.id, progress=_ProgressSink(progress))
            except ProviderError as exc:
                console.print(f"[red]{conn.id}: {exc.error.message}[/] {exc.error.hint}")
                failed = True
                continue
        console.print(
            f"{conn.id}: {report.status}; pulled {sum(report.pulled.values())}, pushed "
            f"{sum(report.pushed.values())}, failed {sum(report.failed.values())}, {report.calls} calls, "
            f"{report.seconds:.1f}s" + (f" — {report.message}" if report.message else "")
        )
        failed = failed or report.status not in ("ok",)
    raise typer.Exit(1 if failed else 0)


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


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
