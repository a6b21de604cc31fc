"""The ``storekeeper`` command: serve the API, watch health and queues, day-two work.

Every command takes the store's URL from ``--url`` or ``$STOREKEEPER_URL``
(default: the embedded SQLite store), prints tables (``--json``: JSON) and
exits non-zero with a one-line reason when something fails. Passwords are
never printed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from . import DataStore
from .errors import StorageError
from .redact import redact, scrub_exc

app = typer.Typer(
    name="storekeeper",
    help="Persistence for workflow and dataflow engines: serve it over HTTP, watch it, move it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
queues_app = typer.Typer(help="Inspect and repair queues.", no_args_is_help=True)
app.add_typer(queues_app, name="queues")
migrate_app = typer.Typer(help="Apply, roll back and inspect your own schema migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    url: str | None = None
    json: bool = False


state = _State()

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", envvar="STOREKEEPER_URL", help="the store's URL (default: $STOREKEEPER_URL, else ./data/storekeeper.db)", show_default=False),
]


@app.callback()
def main(
    url: UrlOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """storekeeper: run `storekeeper serve` for the HTTP API over the embedded SQLite store."""
    state.url = url
    state.json = json_out


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line (redacted) on stderr and exit with *code*."""
    err.print(f"error: {' '.join(redact(message).split())}", markup=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def failures() -> Iterator[None]:
    """Turn the store's errors into one line and exit code 1."""
    try:
        yield
    except StorageError as exc:
        fail(scrub_exc(exc))
    except OSError as exc:
        fail(scrub_exc(exc))


@contextlib.contextmanager
def opened(url: str | None = None) -> Iterator[DataStore]:
    with failures(), DataStore(url if url is not None else state.url) as ds:
        yield ds


def emit(data: Any, table: Table | None = None, line: str | None = None) -> None:
    """``--json``: *data* as JSON on stdout; else the table or the line."""
    if state.json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
        return
    if table is not None:
        out.print(table)
    if line is not None:
        out.print(line, markup=False)


# -- serve -----------------------------------------------------------------------------


@app.command()
def serve(
    blueprint: Annotated[str | None, typer.Argument(help="a blueprint YAML file (seed 000 format); none: the API over --url")] = None,
    host: Annotated[str, typer.Option(help="address to bind (default only this machine)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port of the API (without a blueprint)")] = 8000,
    token: Annotated[str | None, typer.Option(envvar="STOREKEEPER_TOKEN", help="bearer token every route but /health wants", show_default=False)] = None,
    max_body: Annotated[int, typer.Option(min=1, help="largest request body accepted, bytes")] = 1_048_576,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API (docs at /docs), or every endpoint of a BLUEPRINT."""
    from .service.server import run_default

    with failures():
        if blueprint is None:
            run_default(state.url, host, port, token=token, max_body=max_body, log_level=log_level,
                        announce=lambda s: out.print(s, markup=False))
        else:
            from .service.blueprint import run_blueprint

            run_blueprint(blueprint, host=host, token=token, max_body=max_body, log_level=log_level,
                          announce=lambda s: out.print(s, markup=False))


# -- health ------------------------------------------------------------------------------


@app.command()
def health() -> None:
    """Ping the store; list the components' heartbeats. Exit 1 when it does not answer."""
    with opened() as ds:
        ok = ds.ping()
        summary = ds.health.summary()
        comps = ds.health.all()
    data = {
        "store": ds.config.redacted_url,
        "store_connected": ok,
        "status": summary.status if comps else ("healthy" if ok else "unhealthy"),
        "components": [{"component": c.component_name, "status": c.status,
                        "last_heartbeat": c.last_heartbeat} for c in comps],
    }
    table = Table("component", "status", "last heartbeat", title=f"{ds.config.redacted_url}: connected")
    for c in comps:
        table.add_row(c.component_name, c.status, str(c.last_heartbeat))
    emit(data, table if comps else None,
         None if comps else f"{ds.config.redacted_url}: connected, no component heartbeats")


# -- migrations and schema checks ---------------------------------------------------------

SourceArg = Annotated[
    str,
    typer.Argument(help="a folder of NNN_name.sql files (-- UP / -- DOWN), or a YAML file "
                        "with a 'migrations' list (seed 000's {version, description, sql})"),
]


def migration_source(source: str) -> Any:
    """A folder as given; a YAML file as its ``migrations`` list."""
    from .config.environment import load_yaml
    from .errors import ValidationError

    if os.path.isdir(source):
        return source
    if not os.path.exists(source):
        raise ValidationError(f"migration source {source} does not exist")
    doc = load_yaml(source, what="migration file")
    if isinstance(doc, dict):
        doc = doc.get("migrations")
    if not isinstance(doc, list):
        raise ValidationError(f"{source} holds no 'migrations' list")
    return doc


@migrate_app.command("up")
def migrate_up(
    source: SourceArg,
    target: Annotated[str | None, typer.Option(help="apply up to this version (included)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would run, change nothing")] = False,
) -> None:
    """Apply the pending migrations of SOURCE, in order, each once."""
    with opened() as ds:
        report = ds.migrations.apply(migration_source(source), target=target, dry_run=dry_run)
    verb = "would apply" if dry_run else "applied"
    emit({"applied": report.applied, "skipped": report.skipped, "dry_run": dry_run},
         line=f"{verb}: {', '.join(report.applied) or 'nothing (up to date)'}")


@migrate_app.command("down")
def migrate_down(
    source: SourceArg,
    target: Annotated[str, typer.Option(help="roll back every version above this one (0: all)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would run, change nothing")] = False,
) -> None:
    """Roll back the applied migrations above --target, newest first (their DOWN parts)."""
    with opened() as ds:
        report = ds.migrations.rollback(migration_source(source), target, dry_run=dry_run)
    verb = "would roll back" if dry_run else "rolled back"
    emit({"rolled_back": report.rolled_back, "dry_run": dry_run},
         line=f"{verb}: {', '.join(report.rolled_back) or 'nothing'}")


@migrate_app.command("status")
def migrate_status(source: SourceArg) -> None:
    """Which versions of SOURCE are applied, pending or changed since they ran. Exit 1 if any changed."""
    with opened() as ds:
        st = ds.migrations.status(migration_source(source))
    data = {"applied": st.applied, "pending": st.pending, "changed": st.changed, "unknown": st.unknown,
            "current": st.current}
    table = Table("applied", "pending", "changed", "unknown")
    table.add_row(", ".join(st.applied) or "-", ", ".join(st.pending) or "-",
                  ", ".join(st.changed) or "-", ", ".join(st.unknown) or "-")
    emit(data, table)
    if st.changed:
        fail(f"migration(s) {', '.join(st.changed)} changed since they were applied")


@migrate_app.command("history")
def migrate_history() -> None:
    """Every applied migration, oldest first."""
    with opened() as ds:
        rows = [r.to_dict() for r in ds.migrations.history()]
    table = Table("version", "description", "applied at", "seconds")
    for r in rows:
        table.add_row(r["version"], r["description"], str(r["applied_at"]), f"{r['duration']:.3f}")
    emit(rows, table if rows else None, None if rows else "no migration applied")


@app.command()
def check(
    tables: Annotated[list[str] | None, typer.Option("--table", "-t", help="a table of yours that must exist (repeat)")] = None,
) -> None:
    """Validate the schema: the store's own tables, columns and indexes, and --table ones. Exit 1 if incomplete."""
    with opened() as ds:
        report = ds.migrations.validate(tables or None)
    data = {"ok": report.ok, "missing_tables": report.missing_tables,
            "missing_columns": report.missing_columns, "missing_indexes": report.missing_indexes,
            "checked": report.checked}
    emit(data, line=f"schema ok: {len(report.checked)} table(s) checked" if report.ok else None)
    if not report.ok:
        fail("schema incomplete: " + "; ".join(report.problems()))


# -- moving and keeping data ----------------------------------------------------------------

IncludeOpt = Annotated[
    list[str] | None,
    typer.Option("--include", "-i", help="only this kind (repeat): collections, workflows, tasks, "
                                         "states, checkpoints, metrics, port_metrics, health, sinks, cache, queue"),
]


@app.command()
def copy(
    source: Annotated[str, typer.Argument(help="the URL to copy from")],
    target: Annotated[str, typer.Argument(help="the URL to copy into")],
    include: IncludeOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Copy every record of SOURCE into TARGET (safe to run again; counts verified at the end)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ._sync.transfer import copy as copy_store

    bar = Progress(TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, disable=state.json or not err.is_terminal)
    tasks: dict[str, Any] = {}

    def progress(kind: str, done: int, total: int) -> None:
        t = tasks.get(kind)
        if t is None:
            t = tasks[kind] = bar.add_task(kind, total=total)
        bar.update(t, completed=done, total=total)

    with failures(), bar:
        stats = copy_store(source, target, include=include, batch_size=batch_size, progress=progress)
    rows = {k: {"read": v.read, "written": v.written, "skipped": v.skipped, "seconds": round(v.seconds, 3)}
            for k, v in stats.kinds.items()}
    table = Table("kind", "read", "written", "skipped", "seconds",
                  title=f"{redact(source)} -> {redact(target)}")
    for k, v in rows.items():
        table.add_row(k, str(v["read"]), str(v["written"]), str(v["skipped"]), f"{v['seconds']:.2f}")
    emit({"kinds": rows, "read": stats.read, "written": stats.written, "skipped": stats.skipped,
          "seconds": round(stats.seconds, 3)}, table)


@app.command("export")
def export_cmd(
    path: Annotated[str, typer.Argument(help="the file to write (JSON Lines; .gz: compressed)")],
    include: IncludeOpt = None,
) -> None:
    """Write every record of the store to PATH, the portable backup."""
    with opened() as ds:
        counts = ds.export(path, include=include)
    emit({"path": path, "records": counts},
         line=f"{path}: {sum(counts.values())} record(s) ({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'none'})")


@app.command("import")
def import_cmd(path: Annotated[str, typer.Argument(help="a file `storekeeper export` wrote")]) -> None:
    """Read an export file into the store (checked whole first; safe to run again)."""
    with opened() as ds:
        counts = ds.import_(path)
    emit({"path": path, "records": counts},
         line=f"{path}: {sum(counts.values())} record(s) read ({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'none'})")


@app.command()
def cleanup(
    metrics_days: Annotated[float, typer.Option(min=0, help="delete metric values older than this")] = 30,
    completed_messages_days: Annotated[float, typer.Option(min=0, help="delete completed queue messages older than this")] = 7,
    keep_checkpoints: Annotated[int, typer.Option(min=0, help="checkpoints kept per name")] = 10,
    health_days: Annotated[float | None, typer.Option(min=0, help="delete heartbeats older than this")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go, delete nothing")] = False,
) -> None:
    """Apply the retention rules: old metrics, completed messages, surplus checkpoints, expired cache."""
    with opened() as ds:
        counts = ds.cleanup(metrics_days=metrics_days, completed_messages_days=completed_messages_days,
                            keep_checkpoints=keep_checkpoints, health_days=health_days, dry_run=dry_run)
    table = Table("kind", "would delete" if dry_run else "deleted")
    for k, v in counts.items():
        table.add_row(k, str(v))
    emit({"dry_run": dry_run, "deleted": counts}, table)


@app.command()
def stats() -> None:
    """Rows and bytes of every table of the store."""
    with opened() as ds:
        data = ds.stats()
    table = Table("table", "rows", "bytes", title=ds.config.redacted_url)
    for name, v in sorted(data.items()):
        table.add_row(name, str(v["rows"]), str(v["bytes"]))
    emit(data, table)


# -- queues ----------------------------------------------------------------------------------


@queues_app.command("list")
def queues_list() -> None:
    """Every queue holding messages, with its count per status."""
    with opened() as ds:
        rows = [ds.queue.stats(q).as_dict() for q in ds.queue.names()]
    table = Table("queue", "pending", "processing", "completed", "failed", "dead_letter")
    for r in rows:
        table.add_row(r["queue"], *(str(r[k]) for k in ("pending", "processing", "completed", "failed", "dead_letter")))
    emit(rows, table if rows else None, None if rows else "no queue holds messages")


@queues_app.command("stats")
def queues_stats(queues: Annotated[list[str], typer.Argument(help="queue names")]) -> None:
    """Messages per status and the oldest pending message's age."""
    with opened() as ds:
        rows = [ds.queue.stats(q).as_dict() for q in queues]
    table = Table("queue", "pending", "processing", "completed", "failed", "dead_letter", "oldest pending (s)")
    for r in rows:
        age = r["oldest_pending_age"]
        table.add_row(r["queue"], *(str(r[k]) for k in ("pending", "processing", "completed", "failed", "dead_letter")),
                      "-" if age is None else f"{age:.1f}")
    emit(rows, table)


@queues_app.command("dead-letters")
def queues_dead_letters(
    queue: Annotated[str, typer.Argument(help="queue name")],
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
) -> None:
    """The queue's dead-lettered messages, oldest first, with their errors."""
    with opened() as ds:
        msgs = ds.queue.dead_letters(queue, limit)
    rows = [{"id": m.id, "retry_count": m.retry_count, "error": m.error, "data": m.data,
             "created_at": m.created_at} for m in msgs]
    table = Table("id", "retries", "error", "data", title=f"{queue}: {len(rows)} dead letter(s)")
    for r in rows:
        table.add_row(r["id"], str(r["retry_count"]), str(r["error"] or ""),
                      orjson.dumps(r["data"]).decode()[:80])
    emit(rows, table)


@queues_app.command("replay")
def queues_replay(
    queue: Annotated[str, typer.Argument(help="queue name")],
    status: Annotated[str, typer.Option(help="dead_letter, failed or completed")] = "dead_letter",
) -> None:
    """Send the queue's dead (or failed, completed) messages back to pending."""
    with opened() as ds:
        n = ds.queue.replay(queue, status=status)
    emit({"queue": queue, "replayed": n}, line=f"{queue}: {n} message(s) sent back to pending")


@queues_app.command("purge")
def queues_purge(
    queue: Annotated[str, typer.Argument(help="queue name")],
    status: Annotated[str | None, typer.Option(help="only messages in this status")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Delete the queue's messages (only those in --status if given)."""
    if not yes and not state.json and sys.stdin.isatty():
        typer.confirm(f"delete {'every' if status is None else status} message of {queue}?", abort=True)
    with opened() as ds:
        n = ds.queue.purge(queue, status)
    emit({"queue": queue, "purged": n}, line=f"{queue}: {n} message(s) deleted")


def run() -> None:
    """The console script's entry point."""
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
