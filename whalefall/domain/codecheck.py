"""Checks a code job's source before it is saved.

The check compiles the source without running it, so a job that cannot start
is refused when it is created or changed (SPEC §5), not at its first run.
"""

from __future__ import annotations

import ast

from whalefall.errors import InvalidCode

MAX_SOURCE_BYTES = 256 * 1024
ENTRY_POINT = "execute_task"


def check_source(code: str) -> None:
    """Accept ``code`` or raise :class:`InvalidCode`.

    Raises ``InvalidCode`` when the source is empty, is larger than
    ``MAX_SOURCE_BYTES`` once encoded as UTF-8, does not compile (the message and
    ``line`` name the offending line), or has no top-level ``def execute_task``.
    """
    if not code.strip():
        raise InvalidCode("code is empty")
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise InvalidCode(f"code is {size} bytes; the limit is {MAX_SOURCE_BYTES} bytes (256 KiB)")
    try:
        tree = ast.parse(code, filename="<job>")
        # Some errors ('return' outside a function, misplaced nonlocal) are only found by the
        # compiler, not the parser; compiling the tree finds them without parsing twice.
        compile(tree, "<job>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise InvalidCode(f"{type(exc).__name__} at line {exc.lineno}: {exc.msg}", line=exc.lineno) from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise InvalidCode(f"code cannot be compiled: {exc}") from None
    except RecursionError:
        raise InvalidCode("code is nested too deeply to compile") from None

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == ENTRY_POINT:
            return
        if isinstance(node, ast.AsyncFunctionDef) and node.name == ENTRY_POINT:
            raise InvalidCode(f"`{ENTRY_POINT}` must be a plain `def`, not `async def`", line=node.lineno)
    raise InvalidCode(f"code must define a top-level function `def {ENTRY_POINT}():`")
