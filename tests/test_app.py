"""The application factory: nothing starts at import or at create_app."""

from __future__ import annotations

import threading

from whalefall.app import create_app


def test_create_app_never_starts_a_scheduler(runtime):
    before = {t.name for t in threading.enumerate()}
    for _ in range(3):  # as a WSGI server with several workers would
        create_app(runtime=runtime)
    started = {t.name for t in threading.enumerate()} - before
    assert runtime.scheduler is None
    assert not any("scheduler" in name.lower() or "whalefall" in name for name in started)


def test_the_data_directory_is_private(tmp_path):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path)
    assert (rt.settings.data_dir.stat().st_mode & 0o777) == 0o700
    rt.close()


def test_a_role_will_not_start_when_the_key_cannot_read_instance_passwords(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tests.conftest import make_runtime
    from whalefall.cli import cli
    from whalefall.domain.instancespec import InstanceCreate
    from whalefall.services import instances
    from whalefall.services.audit import Actor

    rt = make_runtime(tmp_path, secret_key="first-key")
    instances.create(
        rt,
        InstanceCreate(name="db1", db_type="mysql", host="127.0.0.1", username="u", password="s3cret"),
        Actor("admin", "admin"),
    )
    rt.close()
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "another-key")
    import logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # the CLI configures logging; undo it after
    monkeypatch.setattr(root, "level", root.level)
    for role in ("scheduler", "web"):
        result = CliRunner().invoke(cli, [role])
        assert result.exit_code == 2, result.output
        assert "db1" in result.output and "Traceback" not in result.output
