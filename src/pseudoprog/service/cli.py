"""The service's commands (``serve``, ``worker``, ``users add``, ``export-labels``), registered on the main CLI."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import PseudoprogError
from ..privacy import redact

if TYPE_CHECKING:
    from .settings import ServiceSettings

users_app = typer.Typer(no_args_is_help=True, help="Manage reading-room users.")

DataOpt = Annotated[Path, typer.Option("--data", help="Service data folder (SQLite store, job folders).")]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite under --data).")]


def _settings(data: Path, db: str | None, orthanc: str | None = None, **kw: Any) -> ServiceSettings:
    from .settings import ServiceSettings

    data.mkdir(parents=True, exist_ok=True)
    return ServiceSettings(data_dir=data.resolve(), db_url=db or "", orthanc_url=orthanc, **kw)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {redact(str(exc))}", err=True)  # a library's error text may quote a header value
    return typer.Exit(code=2)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; loopback by default (put TLS in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port")] = 8000,
    db: DbOpt = None,
    orthanc: Annotated[str | None, typer.Option("--orthanc", help="Orthanc base URL, e.g. http://127.0.0.1:8042")] = (
        None
    ),
    data: DataOpt = Path("pseudoprog-data"),
    workers: Annotated[int, typer.Option("--workers", help="Worker processes running assessments.")] = 1,
    lease: Annotated[float, typer.Option("--lease", help="Seconds before a silent worker's job is re-run.")] = 60.0,
    export_identified: Annotated[
        bool, typer.Option("--export-identified", help="The export endpoint keeps identity (default: de-identified).")
    ] = False,
    export_dates: Annotated[
        str, typer.Option("--export-dates", help="De-identified export: shift (whole days) | remove (dummy dates)")
    ] = "shift",
) -> None:
    """Run the reading-room service: API, web page, Orthanc change-feed follower and worker processes."""
    import multiprocessing as mp
    import threading

    import uvicorn

    from ..store import Store
    from .app import create_app
    from .follower import follow
    from .jobs import release_dead_local_jobs, worker_loop
    from .logs import install as quiet_logs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_logs()
    try:
        from ..report.deidentify import DATE_OPTIONS

        if export_dates not in DATE_OPTIONS:
            raise PseudoprogError(f"--export-dates must be shift or remove, not {export_dates!r}")
        settings = _settings(
            data, db, orthanc, lease_s=lease, export_deidentified=not export_identified, export_dates=export_dates
        )
        store = Store(settings.url)
    except PseudoprogError as exc:
        raise _fail(exc) from None
    release_dead_local_jobs(store)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker_loop, args=(settings,), daemon=True) for _ in range(max(0, workers))]
    for p in procs:
        p.start()
    stop = threading.Event()
    follower = None
    if settings.orthanc_url:
        follower = threading.Thread(target=follow, args=(settings, stop), daemon=True)
        follower.start()
    try:
        config = uvicorn.Config(create_app(settings, store=store), host=host, port=port, log_level="info")
        server = uvicorn.Server(config)
        quiet_logs()  # after uvicorn configured its loggers (in Config), so the filter stays on
        server.run()
    finally:
        stop.set()
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=10)


def worker(
    db: DbOpt = None,
    orthanc: Annotated[str | None, typer.Option("--orthanc")] = None,
    data: DataOpt = Path("pseudoprog-data"),
    lease: Annotated[float, typer.Option("--lease")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="Exit when nothing is runnable.")] = False,
) -> None:
    """Run one worker process in the foreground (``serve`` starts these itself)."""
    from ..store import Store
    from .jobs import release_dead_local_jobs, worker_loop
    from .logs import install as quiet_logs

    logging.basicConfig(level=logging.INFO)
    quiet_logs()
    settings = _settings(data, db, orthanc, lease_s=lease, poll_s=0.5)
    release_dead_local_jobs(Store(settings.url))  # a restart takes over what a crashed local worker left
    worker_loop(settings, once=once)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help="reader | admin")] = "reader",
    db: DbOpt = None,
    data: DataOpt = Path("pseudoprog-data"),
) -> None:
    """Add a user (or reset one); the password is read from standard input."""
    from ..store import Store
    from .auth import add_user

    password = (
        sys.stdin.readline().rstrip("\r\n")
        if not sys.stdin.isatty()
        else typer.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    try:
        user = add_user(Store(_settings(data, db).url), name, role=role, password=password)
    except PseudoprogError as exc:
        raise _fail(exc) from None
    typer.echo(f"user {user.name} ({user.role}) saved")


def export_labels(
    out: Annotated[Path, typer.Option("--out", help="CSV to write (the format `pseudoprog calibrate` reads).")],
    db: DbOpt = None,
    data: DataOpt = Path("pseudoprog-data"),
    deidentify: Annotated[
        bool, typer.Option("--deidentify", help="case_id as the patient's pseudonym in the service's exports.")
    ] = False,
) -> None:
    """Write the cases with a recorded outcome as a labelled CSV for `pseudoprog calibrate`."""
    from ..store import Store
    from .labels import export_labels as run

    try:
        n = run(Store(_settings(data, db).url), out, deidentify=deidentify)
    except PseudoprogError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {n} labelled case(s) to {out}")


def register(app: typer.Typer) -> None:
    """Add the service's commands to the main ``pseudoprog`` CLI."""
    app.command()(serve)
    app.command(hidden=True)(worker)
    app.add_typer(users_app, name="users")
    app.command("export-labels")(export_labels)


__all__ = ["register"]
