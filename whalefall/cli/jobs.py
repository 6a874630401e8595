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
@click.option(
    "--crontab", "is_crontab", is_flag=True, help="FILE is a crontab: make a shell job of each line"
)
@click.option("--dry-run", is_flag=True, help="show what would be created and changed; change nothing")
@click.option("--category", default="crontab", show_default=True, help="with --crontab: the jobs' category")
@click.option("--prefix", default="", help="with --crontab: put this before every job id")
@click.option(
    "--system/--no-system",
    default=None,
    help="with --crontab: lines have a user column (/etc/crontab); detected when not given",
)
@click.option(
    "--skip-untranslatable",
    is_flag=True,
    help="with --crontab: create the jobs of the lines that translate even when others do not",
)
def import_(
    file: str,
    is_crontab: bool,
    dry_run: bool,
    category: str,
    prefix: str,
    system: bool | None,
    skip_untranslatable: bool,
) -> None:
    """Create or update jobs from a YAML export; nothing changes unless every job is valid.

    With --crontab, FILE is a crontab (crontab -l > FILE, or /etc/crontab): each line becomes a
    shell job; lines that cannot be translated are listed with their line number.
    """
    from whalefall.cli import load_runtime
    from whalefall.errors import InvalidInput
    from whalefall.services import transfer
    from whalefall.services.audit import Actor

    if is_crontab:
        _import_crontab(file, dry_run, category, prefix, system, skip_untranslatable)
        return
    try:
        with open(file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file} is not valid YAML: {exc}") from None
    entries = data.get("jobs") if isinstance(data, dict) else data
    runtime = load_runtime()
    report = transfer.import_jobs(runtime, entries, Actor.cli(), dry_run=dry_run)
    word = cli_words(runtime.settings.language)
    for job_id in report.created:
        click.echo(f"+ {job_id}")
    for change in report.changed:
        click.echo(f"~ {change['id']}: {', '.join(change['fields'])}")
    counts = {
        "created": len(report.created),
        "changed": len(report.changed),
        "unchanged": len(report.unchanged),
    }
    click.echo(word("import_dry_run" if dry_run else "import_done", **counts))


def cli_words(configured: str):
    """``word(key, **params)``: the ``cli`` catalogue in the terminal's language."""
    from whalefall.i18n import catalogue

    lang = terminal_language(configured)

    def word(key: str, **params: object) -> str:
        return catalogue.text("cli", key, lang).format(**params)

    return word


def _group_command(action: str):
    @click.argument("job_ids", nargs=-1)
    @click.option("--category", help="every job of this category (its group)")
    @click.option("--force", is_flag=True, help="pause even jobs that active jobs depend on")
    def command(job_ids: tuple[str, ...], category: str | None, force: bool) -> None:
        from whalefall.cli import load_runtime
        from whalefall.i18n.messages import say_error
        from whalefall.services import groups
        from whalefall.services.audit import Actor

        runtime = load_runtime()
        word = cli_words(runtime.settings.language)
        if bool(job_ids) == bool(category):
            raise click.UsageError(word("group_ids_or_category"))
        lang = terminal_language(runtime.settings.language)
        kind = groups.Action(action)
        if category:
            outcome = groups.act_on_category(runtime, category, kind, Actor.cli(), force=force)
        else:
            outcome = groups.act_on_jobs(runtime, list(job_ids), kind, Actor.cli(), force=force)
        for job_id in outcome.changed:
            run = outcome.runs.get(job_id)
            click.echo(f"{job_id}" + (f" run #{run}" if run else ""))
        for skip in outcome.skipped:
            click.echo(f"{skip.id}: {say_error(skip.key, skip.params, lang)}", err=True)
        click.echo(word("group_done", changed=len(outcome.changed), skipped=len(outcome.skipped)))

    command.__doc__ = f"{action.capitalize()} the jobs given, or every job of a --category."
    return command


for _action in ("pause", "resume", "run"):
    jobs.command(_action)(_group_command(_action))


@jobs.command("reset-defaults")
def reset_defaults() -> None:
    """Recreate the default jobs as shipped (deleted ones come back, edits are replaced)."""
    from whalefall.cli import load_runtime
    from whalefall.services import defaults
    from whalefall.services.audit import Actor

    ids = defaults.reset(load_runtime(), Actor.cli())
    click.echo(f"default jobs reset: {', '.join(ids)}")


# --- crontab import ---------------------------------------------------------------------


def terminal_language(configured: str) -> str:
    """The CLI's language: WHALEFALL_LANGUAGE when set, else the locale (LC_ALL, LC_MESSAGES,
    LANG) when it has a catalogue, else the configured default."""
    import os

    from whalefall.i18n import normalize

    if os.environ.get("WHALEFALL_LANGUAGE"):
        return normalize(configured) or configured
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        found = normalize(os.environ.get(name) or "")
        if found:
            return found
    return normalize(configured) or configured


def _import_crontab(
    file: str, dry_run: bool, category: str, prefix: str, system: bool | None, skip: bool
) -> None:
    import pwd
    import re

    from whalefall.cli import load_runtime
    from whalefall.domain import crontab
    from whalefall.services import transfer
    from whalefall.services.audit import Actor

    runtime = load_runtime()
    lang = terminal_language(runtime.settings.language)
    word = cli_words(runtime.settings.language)

    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,40}", prefix):
        raise click.UsageError(word("crontab_bad_prefix", prefix=prefix))
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(word("crontab_unreadable", file=file, error=str(exc))) from None

    def known_user(name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    if system is None and (file == "/etc/crontab" or file.startswith("/etc/cron.d/")):
        system = True
    table = crontab.parse(text, system=system, known_user=known_user)
    plan = transfer.import_crontab(
        runtime,
        table,
        Actor.cli(),
        category=category,
        prefix=prefix,
        dry_run=dry_run,
        skip_untranslatable=skip,
    )
    if plan.rows:
        heading = "crontab_would_create" if not plan.created else "crontab_created"
        click.echo(word(heading, count=len(plan.rows), file=file))
        _table(
            [
                word("crontab_col_line"),
                "ID",
                word("crontab_col_schedule"),
                word("crontab_col_next"),
                word("crontab_col_command"),
            ],
            [
                [str(r["line"]), r["id"], r["schedule"], r["next_run_time"] or "-", _clip(r["command"], 70)]
                for r in plan.rows
            ],
        )
    for note in plan.notes:
        click.echo(word("crontab_line", line=note.line, text=word(note.key, **note.params)), err=True)
    if plan.issues:
        click.echo(word("crontab_not_translated", count=len(plan.issues)), err=True)
        for issue in plan.issues:
            click.echo(word("crontab_line", line=issue.line, text=_issue_text(issue, lang)), err=True)
    if plan.created:
        return
    if dry_run:
        click.echo(word("crontab_dry_run"))
    elif plan.issues:
        click.echo(word("crontab_nothing_created"), err=True)
    else:
        click.echo(word("crontab_empty", file=file), err=True)
    if plan.issues or not plan.rows:
        sys.exit(1)


def _issue_text(issue, lang: str) -> str:
    from whalefall.i18n import catalogue
    from whalefall.i18n.messages import say_error

    if issue.context == "cli" and issue.key:
        return catalogue.text("cli", issue.key, lang).format(**issue.params)
    if issue.key:
        return say_error(issue.key, issue.params, lang)
    return issue.message


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> None:
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    widths = [max(width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)]
        click.echo("  ".join(cells).rstrip())
