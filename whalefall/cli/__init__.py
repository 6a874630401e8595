"""The ``whalefall`` command: start a role, manage the database, jobs, users and tokens."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import click

from whalefall.errors import ConfigError, WhalefallError

PROCESS_UMASK = 0o077
SETTLE_SECONDS = 1.0  # after an orderly stop, how long idle threads get to end before the process does


def load_runtime(*, overrides: dict | None = None, check_schema: bool = True):
    """The runtime for a command; refuses a database `db upgrade` has not brought up to date."""
    from whalefall import bootstrap, logs
    from whalefall.runtime import Runtime

    runtime = Runtime.from_env(overrides)
    logs.configure(runtime.settings)
    context = click.get_current_context(silent=True)
    if context is not None:  # the command's lines are out when it ends (a test reads them then)
        context.call_on_close(logs.flush)
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


class StopDeadline:
    """A stop that ends in time whatever the threads are doing (a task blocked in a driver's connect,
    a pool thread waiting on an unreachable database).

    ``start()`` when the stop begins: once ``seconds`` have passed (the shutdown grace plus a
    margin for interrupting runs and letting go of the lease) the process ends, saying which
    threads were still alive. ``finish()`` after the orderly stop: if a thread the interpreter
    would wait for is still alive, the process ends at once rather than joining it — the runs
    are already marked interrupted by then.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._done = threading.Event()

    def start(self) -> StopDeadline:
        threading.Thread(target=self._expire, name="whalefall-stop-deadline", daemon=True).start()
        return self

    def _expire(self) -> None:
        if self._done.wait(self.seconds):
            return
        _end_now(1, f"still stopping after {self.seconds:.0f} s; ending the process")

    def finish(self) -> None:
        self._done.set()
        settle = time.monotonic() + SETTLE_SECONDS  # idle pool threads are on their way out
        for thread in _joined_at_exit():
            thread.join(max(0.0, settle - time.monotonic()))
        if _joined_at_exit():
            _end_now(0, "stopped; not waiting for threads that are still busy")


def _joined_at_exit() -> list[threading.Thread]:
    """The threads the interpreter would wait for before the process may end."""
    return [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]


def _end_now(status: int, why: str) -> None:
    """Say which threads are alive and where, then end the process without joining any of them."""
    import logging

    from whalefall import logs

    frames = sys._current_frames()
    alive = []
    for thread in threading.enumerate():
        if thread is threading.current_thread():
            continue
        frame = frames.get(thread.ident or -1)
        where = f" in {frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})" if frame else ""
        alive.append(f"{thread.name}{' (daemon)' if thread.daemon else ''}{where}")
    logging.getLogger("whalefall.cli").warning("%s; threads still alive: %s", why, "; ".join(alive) or "none")
    click.echo(f"whalefall: {why}; threads still alive: {len(alive)}", err=True)
    logs.flush()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@click.group(cls=WhalefallGroup)
@click.version_option(package_name="whalefall")
def cli() -> None:
    """Whalefall — a job scheduler for database operations teams."""
    # Every role and command starts here: files it creates (keys, logs, backups,
    # the SQLite database, run workdirs) are its own alone.
    os.umask(PROCESS_UMASK)


def _stop_seconds(runtime) -> float:
    """How long a stop may take: the shutdown grace, plus the margin to interrupt and let go."""
    from whalefall import defaults

    return runtime.settings.shutdown_grace_seconds + defaults.STOP_MARGIN_SECONDS


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
    # The scheduler first: it fires while the console is still being built (that takes a second).
    scheduler = None
    if runtime.settings.enable_scheduler:
        scheduler = SchedulerService(runtime, role="serve")
        scheduler.start()
    try:
        server = _start_http(runtime, host or runtime.settings.host, port or runtime.settings.port)
    except BaseException:
        if scheduler is not None:
            scheduler.stop()
        raise
    watchdog = Watchdog(runtime)
    watchdog.start()
    try:
        stop.wait()
    finally:
        click.echo(f"whalefall: stopping ({stop.signal or 'exit'})", err=True)
        deadline = StopDeadline(_stop_seconds(runtime)).start()
        server.close()
        watchdog.stop()
        if scheduler is not None:
            scheduler.stop()
        runtime.close()
        deadline.finish()


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
        deadline = StopDeadline(_stop_seconds(runtime)).start()
        service.stop()
        runtime.close()
        deadline.finish()


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
    from whalefall.cli import backup, jobs, users

    users.register(cli)
    jobs.register(cli)
    backup.register(cli)


_register()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except (ConfigError, WhalefallError) as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
