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
    ``line`` name the offending line), is nested too deeply to parse, or has no top-level
    ``def execute_task``.
    """
    if not code.strip():
        raise InvalidCode("code is empty", key="code_empty")
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise InvalidCode(
            f"code is {size} bytes; the limit is {MAX_SOURCE_BYTES} bytes (256 KiB)",
            key="code_too_large",
            params={"size": size, "limit": MAX_SOURCE_BYTES},
        )
    try:
        tree = ast.parse(code, filename="<job>")
        # Some errors ('return' outside a function, misplaced nonlocal) are only found by the
        # compiler, not the parser; compiling the tree finds them without parsing twice.
        compile(tree, "<job>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        kind = type(exc).__name__
        raise InvalidCode(
            f"{kind} at line {exc.lineno}: {exc.msg}",
            line=exc.lineno,
            key="code_syntax",
            params={"kind": kind, "line": exc.lineno, "detail": exc.msg},
        ) from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise InvalidCode(
            f"code cannot be compiled: {exc}", key="code_not_compilable", params={"detail": str(exc)}
        ) from None
    except (RecursionError, MemoryError):
        # Deep nesting (``-`` * 100000, ``lambda: `` * 10000) exhausts the parser's stack, which
        # it reports as a MemoryError; the source is still the problem, not the server.
        raise InvalidCode("code is nested too deeply to compile", key="code_too_deep") from None

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == ENTRY_POINT:
            return
        if isinstance(node, ast.AsyncFunctionDef) and node.name == ENTRY_POINT:
            raise InvalidCode(
                f"`{ENTRY_POINT}` must be a plain `def`, not `async def`",
                line=node.lineno,
                key="code_async_entry",
                params={"entry": ENTRY_POINT},
            )
    raise InvalidCode(
        f"code must define a top-level function `def {ENTRY_POINT}():`",
        key="code_no_entry",
        params={"entry": ENTRY_POINT},
    )
