"""Files a run leaves behind: a query's whole result as CSV, one file per run in the data dir.

``<data dir>/results/run-<id>.csv``; ``cleanup_old_logs`` removes them with the run history's
retention. The run keeps the first rows in its return value; the file is for the download.
"""

from __future__ import annotations

from pathlib import Path

from whalefall.errors import NotFound
from whalefall.runtime import Runtime

DIRECTORY = "results"


class ResultNotFound(NotFound):
    def __init__(self, run_id: int):
        super().__init__(f"run {run_id} kept no result file", key="result_not_found", params={"id": run_id})


def directory(runtime: Runtime) -> Path:
    return runtime.settings.data_dir / DIRECTORY


def csv_path(runtime: Runtime, run_id: int) -> Path:
    """Where run ``run_id``'s CSV is (or goes); the directory is made, private to the product."""
    folder = directory(runtime)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"run-{int(run_id)}.csv"


def has_csv(runtime: Runtime, run_id: int) -> bool:
    return (directory(runtime) / f"run-{int(run_id)}.csv").is_file()


def existing_csv(runtime: Runtime, run_id: int) -> Path:
    """Run ``run_id``'s CSV; raises :class:`ResultNotFound` when it kept none."""
    if not has_csv(runtime, run_id):
        raise ResultNotFound(run_id)
    return directory(runtime) / f"run-{int(run_id)}.csv"
