"""What the tasks' parameter models share (each task's own model is its package's ``Params``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from whalefall.domain.base import RowId

# The instances a fleet task works on; all active ones when left out.
InstanceIds = Annotated[
    list[RowId] | None,
    Field(max_length=1000, description="ids of registered instances; every active one when left out"),
]
