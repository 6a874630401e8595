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

# A database name a template hands to a client or a dump tool: no "=" (libpq would read a
# connection string, with another host), no leading "-" (an option), no spaces or quotes.
DATABASE_NAME_PATTERN = r"^[\w$][\w$.\-]{0,127}$"
DatabaseName = Annotated[
    str | None,
    Field(pattern=DATABASE_NAME_PATTERN, description="database (default: the instance's)"),
]
# A registered instance a template works on, and the engines it accepts (the console's picker).
TEMPLATE_ENGINES = ["postgresql", "mysql"]
TemplateInstance = Annotated[
    RowId,
    Field(
        description="a registered instance",
        json_schema_extra={"format": "instance", "x-db-types": TEMPLATE_ENGINES},
    ),
]
