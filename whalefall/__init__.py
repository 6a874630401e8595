"""Whalefall: a self-hosted job scheduler for database operations teams.

Kept light on purpose: the code-job launcher and the CLI import submodules
directly; ``create_app`` is imported on first use.
"""

__version__ = "0.1.0"


def create_app(*args, **kwargs):
    from whalefall.app import create_app as factory

    return factory(*args, **kwargs)
