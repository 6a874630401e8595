"""Directories a template may write to or delete from: never a system root, never the product's own.

Checked twice: when the job is saved (the params model's validators, with the data dir from the
validation context) and when it runs (the path resolved, symlinks followed), so a symlink swapped
in later does not lead a run into ``/etc``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from whalefall.errors import TaskFailed

# The roots themselves are refused; the trees marked True are refused with everything under them.
SYSTEM_ROOTS: dict[str, bool] = {
    "/": False,
    "/bin": True,
    "/boot": True,
    "/dev": True,
    "/etc": True,
    "/home": False,
    "/lib": True,
    "/lib32": True,
    "/lib64": True,
    "/libx32": True,
    "/media": False,
    "/mnt": False,
    "/opt": False,
    "/proc": True,
    "/root": False,
    "/run": True,
    "/sbin": True,
    "/srv": False,
    "/sys": True,
    "/tmp": False,
    "/usr": True,
    "/var": False,
    "/var/lib": False,
    "/var/log": False,
}


def system_root(path: str) -> str | None:
    """The system root ``path`` is (or lies in, for the refused trees), or None."""
    normal = os.path.normpath(path)
    for root, whole_tree in SYSTEM_ROOTS.items():
        if normal == root or (whole_tree and normal.startswith(root + "/")):
            return root
    return None


def overlaps(path: str, protected: Path) -> bool:
    """``path`` is ``protected``, inside it, or one of its ancestors."""
    mine, theirs = Path(os.path.normpath(path)), Path(os.path.normpath(protected))
    return mine == theirs or theirs in mine.parents or mine in theirs.parents


def check_directory(value: str, info: ValidationInfo, *, protect_data_dir: bool) -> str:
    """A params validator: an absolute path, not a system root (nor the data dir when asked)."""
    if "\x00" in value:
        raise PydanticCustomError("nul_byte", "must not contain NUL bytes")
    if not value.startswith("/"):
        raise PydanticCustomError("absolute_path", "must be an absolute path (starting with /)")
    root = system_root(value)
    if root is not None:
        raise PydanticCustomError("system_directory", "{path} is a system directory", {"path": root})
    data_dir = (info.context or {}).get("data_dir")
    if protect_data_dir and data_dir is not None and overlaps(value, Path(data_dir)):
        raise PydanticCustomError("data_directory", "must stay away from the product's data directory")
    return os.path.normpath(value)


def usable_directory(path: str, runtime: Any, *, protect_data_dir: bool) -> Path:
    """``path`` resolved (symlinks followed) and checked again at run time; raises TaskFailed."""
    resolved = Path(path).resolve()
    root = system_root(str(resolved))
    if root is not None:
        raise TaskFailed(f"{path} resolves to {resolved}, a system directory ({root}): refused")
    data_dir = runtime.settings.data_dir.resolve()
    if protect_data_dir and overlaps(str(resolved), data_dir):
        raise TaskFailed(f"{path} resolves to {resolved}, which overlaps the data directory: refused")
    return resolved
