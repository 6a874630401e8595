"""The ``whalefall`` command: start a role, manage the database, jobs, users and tokens."""

from __future__ import annotations

import signal
import sys
import threading

import click

from whalefall.errors import ConfigError, WhalefallError


def load_runtime(*, overrides: dict | None = None):
    from whalefall import logs
    from whalefall.runtime import Runtime

    runtime = Runtime.from_env(overrides)
    logs.configure(runtime.settings)
    return runtime


class Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT to leave the server loop cleanly."""


def _on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def _install_signals() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


@click.group()
@click.version_option(package_name="whalefall")
def cli() -> None:
    """Whalefall — a job scheduler for database operations teams."""


def _serve_http(runtime, host: str, port: int) -> None:
    from waitress import create_server

    from whalefall.app import create_app

    app = create_app(runtime=runtime)
    server = create_server(app, host=host, port=port, threads=8, ident="whalefall")
    click.echo(f"whalefall: serving http://{host}:{port}/scheduler/", err=True)
    try:
        server.run()
    finally:
        server.close()


@cli.command()
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default 5000)")
def serve(host: str | None, port: int | None) -> None:
    """Console, API and scheduler in one process (the embedded default)."""
    from whalefall import bootstrap
    from whalefall.scheduler.service import SchedulerService

    runtime = load_runtime()
    bootstrap.migrate_and_seed(runtime)
    password = bootstrap.first_admin(runtime)
    if password:
        click.echo("=" * 60)
        click.echo("First admin created — user: admin")
        click.echo(f"password: {password}")
        click.echo(f"(also written to {runtime.settings.data_dir / 'initial_admin_password'}, mode 0600)")
        click.echo("=" * 60)
    scheduler = None
    if runtime.settings.enable_scheduler:
        scheduler = SchedulerService(runtime, role="serve")
        scheduler.start()
    _install_signals()
    try:
        _serve_http(runtime, host or runtime.settings.host, port or runtime.settings.port)
    except Stop:
        pass
    finally:
        if scheduler is not None:
            scheduler.stop()
        runtime.close()


@cli.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def web(host: str | None, port: int | None) -> None:
    """Console and API only; never starts a scheduler."""
    from whalefall import bootstrap

    runtime = load_runtime()
    bootstrap.ensure_schema_current(runtime)
    _install_signals()
    try:
        _serve_http(runtime, host or runtime.settings.host, port or runtime.settings.port)
    except Stop:
        pass
    finally:
        runtime.close()


@cli.command()
def scheduler() -> None:
    """The scheduler only: takes the lease when free and runs jobs."""
    from whalefall import bootstrap
    from whalefall.scheduler.service import SchedulerService

    runtime = load_runtime()
    bootstrap.ensure_schema_current(runtime)
    service = SchedulerService(runtime, role="scheduler")
    service.start()
    _install_signals()
    click.echo(f"whalefall: scheduler node {service.node_id} started", err=True)
    try:
        threading.Event().wait()
    except Stop:
        pass
    finally:
        service.stop()
        runtime.close()


@cli.command()
def worker() -> None:
    """A distributed Celery worker (WHALEFALL_EXECUTOR=celery)."""
    raise click.ClickException("the Celery executor is not available in this version; runs execute in the "
                               "scheduler's own thread pool")


@cli.group()
def db() -> None:
    """The product's database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations and create the default jobs never created before."""
    from whalefall import bootstrap

    runtime = load_runtime()
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
    click.echo(f"run {run.id}: {run.status}" + (f" in {run.duration_seconds:.3f} s" if run.duration_seconds else ""))
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
