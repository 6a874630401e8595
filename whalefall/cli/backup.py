"""``whalefall backup`` and ``whalefall restore``: Whalefall's own data, while it runs (SPEC §13)."""

from __future__ import annotations

from pathlib import Path

import click


def register(cli: click.Group) -> None:
    cli.add_command(backup_command)
    cli.add_command(restore_command)


def _words(runtime):
    from whalefall.cli.jobs import terminal_language
    from whalefall.i18n import catalogue

    lang = terminal_language(runtime.settings.language)

    def word(key: str, **params: object) -> str:
        return catalogue.text("cli", key, lang).format(**params)

    return word


@click.command("backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="the file to write")
def backup_command(output: Path | None) -> None:
    """Back up the database (jobs, runs, users, instances, settings) into one .tar.gz."""
    from whalefall.cli import load_runtime
    from whalefall.services import backup

    runtime = load_runtime()
    word = _words(runtime)
    taken = backup.create(runtime, output)
    click.echo(
        word(
            "backup_written",
            path=taken.path,
            size=taken.size,
            kind=taken.manifest["database_kind"],
            revision=taken.manifest["alembic_revision"],
        )
    )
    for path in taken.removed:
        click.echo(word("backup_removed", name=path.name))


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(path: Path) -> None:
    """Restore a backup into this server's database (refused while a scheduler runs on it)."""
    from whalefall.cli import load_runtime
    from whalefall.services import nodes, restore

    runtime = load_runtime(check_schema=False)
    word = _words(runtime)
    manifest = restore.check(runtime, path)
    click.echo(
        word(
            "restore_checked",
            created=manifest.get("created_at"),
            version=manifest.get("product_version"),
            kind=manifest.get("database_kind"),
            revision=manifest.get("alembic_revision"),
        )
    )
    steps = {"lease": word("restore_lease"), "loaded": word("restore_loaded")}

    def say(step: str) -> None:
        if step in steps:
            click.echo(steps[step])

    done = restore.restore(runtime, path, node_id=nodes.make_node_id("restore"), say=say)
    if done.migrated_from:
        click.echo(word("restore_migrated", old=done.migrated_from, new=done.revision))
    click.echo(word("restore_done"))
