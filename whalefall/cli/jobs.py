"""``whalefall jobs …``: list, export, import, reset-defaults."""

from __future__ import annotations

import sys

import click
import yaml


def register(cli: click.Group) -> None:
    cli.add_command(jobs)


@click.group()
def jobs() -> None:
    """Jobs from the command line."""


@jobs.command("list")
def list_jobs() -> None:
    from whalefall.cli import load_runtime
    from whalefall.services import jobs as job_service

    runtime = load_runtime()
    with runtime.db.read() as session:
        rows, total = job_service.page(session, per_page=10_000)
    for job in rows:
        data = job_service.to_dict(runtime, job)
        click.echo(
            f"{job.id:32} {job.state:7} {data['next_run_time'] or '-':20} {data['trigger_description']}"
        )
    click.echo(f"{total} job(s)")


@jobs.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def export(file: str | None) -> None:
    """Write every job (code included) as YAML to FILE or stdout."""
    from whalefall.cli import load_runtime
    from whalefall.services import transfer

    text = yaml.safe_dump({"jobs": transfer.export_jobs(load_runtime())}, allow_unicode=True, sort_keys=False)
    if file:
        with open(file, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


@jobs.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_(file: str) -> None:
    """Create or update jobs from a YAML export; nothing changes unless every job is valid."""
    from whalefall.cli import load_runtime
    from whalefall.errors import InvalidInput
    from whalefall.services import transfer
    from whalefall.services.audit import Actor

    try:
        with open(file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file} is not valid YAML: {exc}") from None
    entries = data.get("jobs") if isinstance(data, dict) else data
    created, updated = transfer.import_jobs(load_runtime(), entries, Actor.cli())
    click.echo(f"created {len(created)}, updated {len(updated)}")


@jobs.command("reset-defaults")
def reset_defaults() -> None:
    """Recreate the default jobs as shipped (deleted ones come back, edits are replaced)."""
    from whalefall.cli import load_runtime
    from whalefall.services import defaults
    from whalefall.services.audit import Actor

    ids = defaults.reset(load_runtime(), Actor.cli())
    click.echo(f"default jobs reset: {', '.join(ids)}")
