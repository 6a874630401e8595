"""The ``whalefall`` command: start a role, manage the database, jobs, users and tokens."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from whalefall.errors import ConfigError, WhalefallError

PROCESS_UMASK = 0o077


def load_runtime(*, overrides: dict | None = None, check_schema: bool = True):
    """The runtime for a command; refuses a database `db upgrade` has not brought up to date."""
    from whalefall import bootstrap, logs
    from whalefall.runtime import Runtime

    runtime = Runtime.from_env(overrides)
    logs.configure(runtime.settings)
    if check_schema:
        bootstrap.ensure_schema_current(runtime)
    return runtime


class WhalefallGroup(click.Group):
    """Turns the product's own errors into ``error: …`` on stderr and exit status 2, for every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ConfigError, WhalefallError) as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(2)


class StopRequested:
    """SIGTERM/SIGINT only set an event; the main thread waits on it.

    Raising from the handler instead would land inside whatever the main thread
    runs — waitress's channel handlers swallow it and keep serving.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: str | None = None

    def install(self) -> StopRequested:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        self.signal = signal.Signals(signum).name
        self.event.set()

    def wait(self) -> None:
        while not self.event.wait(1.0):
            pass


@click.group(cls=WhalefallGroup)
@click.version_option(package_name="whalefall")
def cli() -> None:
    """Whalefall — a job scheduler for database operations teams."""
    # Every role and command starts here: files it creates (keys, logs, backups,
    # the SQLite database, run workdirs) are its own alone.
    os.umask(PROCESS_UMASK)


def _start_http(runtime, host: str, port: int):
    """Serve the app with waitress in a background thread; returns the server (``close()`` to stop)."""
    from waitress import create_server

    from whalefall.app import create_app

    app = create_app(runtime=runtime)
    try:
        server = create_server(app, host=host, port=port, threads=8, ident="whalefall")
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    threading.Thread(target=server.run, name="whalefall-http", daemon=True).start()
    click.echo(f"whalefall: serving http://{host}:{port}/scheduler/", err=True)
    return server


@cli.command()
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default 5000)")
def serve(host: str | None, port: int | None) -> None:
    """Console, API and scheduler in one process (the embedded default)."""
    from whalefall import bootstrap
    from whalefall.scheduler.service import SchedulerService
    from whalefall.web.watchdog import Watchdog

    runtime = load_runtime(check_schema=False)
    bootstrap.migrate_and_seed(runtime)
    bootstrap.check_secrets(runtime)
    password = bootstrap.first_admin(runtime)
    if password:
        click.echo("=" * 60)
        click.echo("First admin created — user: admin")
        click.echo(f"password: {password}")
        click.echo(f"(also written to {runtime.settings.data_dir / 'initial_admin_password'}, mode 0600)")
        click.echo("=" * 60)
    stop = StopRequested().install()
    server = _start_http(runtime, host or runtime.settings.host, port or runtime.settings.port)
    watchdog = Watchdog(runtime)
    watchdog.start()
    scheduler = None
    if runtime.settings.enable_scheduler:
        scheduler = SchedulerService(runtime, role="serve")
        scheduler.start()
    try:
        stop.wait()
    finally:
        click.echo(f"whalefall: stopping ({stop.signal or 'exit'})", err=True)
        server.close()
        watchdog.stop()
        if scheduler is not None:
            scheduler.stop()
        runtime.close()


@cli.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def web(host: str | None, port: int | None) -> None:
    """Console and API only; never starts a scheduler."""
    from whalefall import bootstrap
    from whalefall.web.watchdog import Watchdog

    runtime = load_runtime()
    bootstrap.check_secrets(runtime)
    stop = StopRequested().install()
    server = _start_http(runtime, host or runtime.settings.host, port or runtime.settings.port)
    watchdog = Watchdog(runtime)
    watchdog.start()
    try:
        stop.wait()
    finally:
        server.close()
        watchdog.stop()
        runtime.close()


@cli.command()
def scheduler() -> None:
    """The scheduler only: takes the lease when free and runs jobs."""
    from whalefall import bootstrap
    from whalefall.scheduler.service import SchedulerService

    runtime = load_runtime()
    bootstrap.check_secrets(runtime)
    stop = StopRequested().install()
    service = SchedulerService(runtime, role="scheduler")
    service.start()
    click.echo(f"whalefall: scheduler node {service.node_id} started", err=True)
    try:
        stop.wait()
    finally:
        service.stop()
        runtime.close()


@cli.command()
def worker() -> None:
    """A distributed Celery worker (WHALEFALL_EXECUTOR=celery)."""
    raise click.ClickException(
        "the Celery executor is not available in this version; runs execute in the "
        "scheduler's own thread pool"
    )


@cli.group()
def db() -> None:
    """The product's database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations and create the default jobs never created before."""
    from whalefall import bootstrap

    runtime = load_runtime(check_schema=False)
    created = bootstrap.migrate_and_seed(runtime)
    click.echo(f"database is up to date; default jobs created: {', '.join(created) or 'none'}")


@cli.command("run")
@click.argument("job_id")
def run_once(job_id: str) -> None:
    """Run one job once in the foreground and print its result."""
    from whalefall.scheduler.oneshot import run_in_foreground

    runtime = load_runtime()
    run = run_in_foreground(runtime, job_id)
    if run.log:
        click.echo(run.log.rstrip("\n"), err=True)
    click.echo(
        f"run {run.id}: {run.status}" + (f" in {run.duration_seconds:.3f} s" if run.duration_seconds else "")
    )
    if run.error_message:
        click.echo(f"error: {run.error_message}", err=True)
    if run.return_value:
        click.echo(run.return_value)
    sys.exit(0 if run.status == "success" else 1)


def _register() -> None:
    from whalefall.cli import jobs, users

    users.register(cli)
    jobs.register(cli)


_register()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except (ConfigError, WhalefallError) as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
