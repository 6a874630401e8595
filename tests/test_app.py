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
