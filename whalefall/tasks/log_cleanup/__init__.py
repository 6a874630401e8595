"""``log_cleanup`` (template): remove files matching a pattern older than N days from a directory.

The directory must be absolute, not a system root (``/``, ``/etc``, …) and away from the
product's data directory — checked when the job is saved and again, resolved, when it runs.
Files only: directories and symlinks are left alone, and the walk never follows a link. With
``dry_run`` nothing is removed and the run lists what would be. The result counts the files and
bytes removed (and names the first of them).
"""

from __future__ import annotations

import fnmatch
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.errors import TaskFailed
from whalefall.tasks.paths import check_directory, usable_directory
from whalefall.tasks.registry import TaskContext

LISTED = 50  # files named in the result; the counts cover them all


class Params(Strict):
    directory: str = Field(max_length=4096, description="absolute directory to clean")
    pattern: str = Field(
        "*.log", min_length=1, max_length=200, description="glob of file names, e.g. *.log.*"
    )
    days_to_keep: int = Field(7, ge=0, le=36_500, description="keep files modified within this many days")
    recursive: bool = Field(False, description="also clean the directories below")
    dry_run: bool = Field(False, description="only report what would be removed")

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str, info: ValidationInfo) -> str:
        return check_directory(value, info, protect_data_dir=True)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if "/" in value or "\x00" in value:
            raise PydanticCustomError("file_pattern", "a pattern of file names, without /")
        return value


def old_files(root: Path, pattern: str, cutoff: float, recursive: bool) -> list[tuple[Path, int]]:
    """(path, size) of regular files under ``root`` matching ``pattern`` modified before ``cutoff``."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        if not recursive:
            dirs.clear()
        for name in fnmatch.filter(files, pattern):
            path = Path(folder) / name
            stat = path.lstat()
            if path.is_file() and not path.is_symlink() and stat.st_mtime < cutoff:
                found.append((path, stat.st_size))
    return sorted(found)


def run(
    ctx: TaskContext,
    directory: str,
    pattern: str = "*.log",
    days_to_keep: int = 7,
    recursive: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    root = usable_directory(directory, ctx.runtime, protect_data_dir=True)
    if not root.is_dir():
        raise TaskFailed(f"{directory} is not a directory")
    cutoff = (clock.now() - timedelta(days=days_to_keep)).timestamp()
    removed: list[str] = []
    total = 0
    for path, size in old_files(root, pattern, cutoff, recursive):
        if ctx.cancel_requested():
            break
        if not dry_run:
            path.unlink(missing_ok=True)
        removed.append(str(path))
        total += size
    verb = "would remove" if dry_run else "removed"
    ctx.logger.info("%s %d file(s), %d bytes, from %s (%s)", verb, len(removed), total, root, pattern)
    return {
        "directory": str(root),
        "pattern": pattern,
        "dry_run": dry_run,
        "files_removed": len(removed),
        "bytes_removed": total,
        "files": removed[:LISTED],
    }
