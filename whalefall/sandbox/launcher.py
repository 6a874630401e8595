"""The child process of a code job: runs one job's ``execute_task`` and reports on fd 1.

Started by ``whalefall.scheduler.executors.process`` as ``python -I launcher.py PARENT_PID``. It imports
only the standard library (never ``whalefall``), so start-up stays small and the app's
configuration is never loaded into the job's process.

Input, on stdin, one JSON object::

    {"code": str, "params": dict,
     "context": {"run_id": ..., "job_id": ..., "scheduled_time": str | null, "attempt": int},
     "memory_limit_mb": int | null, "cpu_seconds": int | null,
     "max_processes": int | null, "file_size_mb": int | null,
     "command": [str, ...] | null, "env": {str: str} | null, "cwd": str | null,
     "sys_path": [str, ...] | null,
     "instances": {name: {"db_type", "host", "port", "database", "user", "password", "connect_timeout"}} | null}

``instances`` are the registered instances the job declares (``uses_instances``). A code job gets
``connect(name, **options)`` among its globals: a DB-API connection with the engine's driver
(PyMySQL, psycopg, pymssql, oracledb), each call reported to the parent as a "use" record, which
audits it. A shell command gets, for each instance NAME (upper-cased, other characters as ``_``),
``WF_NAME_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_DATABASE`` and ``_TYPE``; a MySQL option
file ``WF_NAME_CNF`` (``mysql --defaults-extra-file="$WF_NAME_CNF"``); the PostgreSQL ones as
services of ``PGSERVICEFILE`` (``psql service=NAME``); and, when it declares exactly one instance,
the client's own variables (``PGHOST`` … ``PGPASSWORD``, or ``MYSQL_HOST``, ``MYSQL_TCP_PORT``,
``MYSQL_PWD``). The files are 0600 in ``$HOME/.whalefall`` (the run's private workdir).

``sys_path`` lists the interpreter's site-packages: the launcher is started with ``-S`` (no
``site``, no ``.pth`` files: an editable install's import hook alone costs ~45 ms per start, and
would point at the product's package) and adds them to ``sys.path`` itself, so a job can still
import the packages installed beside Whalefall (PyMySQL, psycopg …).

``cwd`` is entered once the limits are set (inside the sandbox, the job's uid may enter its
workdir where the sandbox's own setup may not).

With ``command`` (a shell job), ``code`` is not read: once the limits are set the launcher
replaces itself with the command (``execvp``, ``env`` added to its environment), whose output
reaches the parent as raw lines and whose exit code is the run's outcome. Only a command that
cannot be started is reported as an "error" record.

Output, on fd 1: one record per line, each an RS byte (0x1e), a JSON object and LF (JSON text
sequences, RFC 7464). A subprocess of the job inherits fd 1 and 2 and may write raw text, even
half a line; the RS lets the parent find a record after such text, and a line without an RS
is raw output, so raw text can neither break nor forge a record. The records:

    {"t": "log", "level": "INFO", "line": "message"}     a record of ``logger`` or the root logger
    {"t": "out", "line": "text"}                         a line written to sys.stdout / sys.stderr
    {"t": "use", "instance": "name"}                     the job opened a connection with ``connect``
    {"t": "result", "value": "text"}                     last record after success; exit code 0
    {"t": "error", "error": "Type: message", "traceback": "..."}   last record after a failure; exit 1

Output lines are sent as each is completed; a partial last line is sent at the end, and a line
longer than 64 Ki characters is sent in pieces.

The job's namespace is a fresh module ``__whalefall_job__`` (registered in ``sys.modules``), its
code compiled with the file name ``<job:JOB_ID>``. Its globals: ``logger`` (the INFO-level
``logging.Logger`` "job.JOB_ID"), ``params`` (dict) and ``context`` (a dict whose keys are also
attributes: ``context.run_id``, ``context["attempt"]``).

``execute_task`` is called without arguments when it declares none. Otherwise each parameter it
declares by name receives ``params``, ``context`` or ``logger`` when so named, else
``params[name]`` when present (else its default applies, or Python reports the missing
argument); a ``**kwargs`` parameter receives the other entries of ``params``. Positional-only
parameters receive nothing.

The value it returns is reported as: a ``str`` as is, ``None`` as "", a dict, list, tuple,
number or bool as JSON, anything else by ``str()``; at most 1 Mi characters. ``SystemExit`` in
the job is an error like any other exception. After the last record the process ends with
``os._exit``, so threads the job left running and its atexit handlers cannot keep it alive.

Limits, set before the job's code is compiled: RLIMIT_NPROC (``max_processes``: processes and
threads of the job's uid, which the sandbox makes one per run), RLIMIT_FSIZE (``file_size_mb``: a
larger write fails with "File too large"), RLIMIT_AS (``memory_limit_mb``; an allocation
beyond it raises MemoryError), RLIMIT_CPU (``cpu_seconds``; the job gets ``CpuTimeExceeded``,
and SIGKILL a second later if it carries on), RLIMIT_CORE 0; and, on Linux, PR_SET_PDEATHSIG so
the kernel kills this process when the thread that started it dies, and at most two glibc
malloc arenas (each reserves 64 MiB of address space, which RLIMIT_AS counts).
"""

from __future__ import annotations

import codecs
import io
import json
import linecache
import logging
import os
import resource
import signal
import sys
import threading
import traceback
import types

_RS = b"\x1e"
_MAX_LINE = 64 * 1024  # characters of output sent as one "out" record
_MAX_VALUE = 1024 * 1024  # characters of a return value or traceback
_MAX_ERROR = 64 * 1024  # characters of an error message
_PR_SET_PDEATHSIG = 1
_JOB_UMASK = 0o007  # files a job leaves in a shared writable path stay its group's, never the world's
_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
# Code-object flags, as in ``inspect``, which is not imported because it is slow to import.
_CO_VARKEYWORDS = 0x08
_CO_ASYNC = 0x80 | 0x200  # CO_COROUTINE | CO_ASYNC_GENERATOR

_send_lock = threading.Lock()


def _send(record: dict) -> None:
    # Lone surrogates cannot be encoded; "replace" keeps the JSON valid with a "?" instead.
    data = memoryview(_RS + json.dumps(record, ensure_ascii=False).encode("utf-8", "replace") + b"\n")
    with _send_lock:
        while data:
            try:
                written = os.write(1, data)
            except BrokenPipeError:
                os._exit(1)  # the parent is gone; nobody reads what the job does
            data = data[written:]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [truncated: {len(text)} characters in all]"


class _LineWriter(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr: each completed line becomes an "out" record."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, fd: int):
        self._fd = fd
        self._partial = ""
        self._lock = threading.Lock()
        self.buffer = _BinaryWriter(self)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        # The real descriptor, so subprocess.run(..., stdout=sys.stdout) works: the parent
        # reads what the subprocess writes there as raw output.
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
            while len(self._partial) > _MAX_LINE:
                lines.append(self._partial[:_MAX_LINE])
                self._partial = self._partial[_MAX_LINE:]
            for line in lines:
                for start in range(0, max(len(line), 1), _MAX_LINE):
                    _send({"t": "out", "line": line[start : start + _MAX_LINE]})
        return len(text)

    def send_partial(self) -> None:
        with self._lock:
            if self._partial:
                _send({"t": "out", "line": self._partial})
                self._partial = ""


class _BinaryWriter:
    """``sys.stdout.buffer``: bytes are decoded as UTF-8, bad bytes becoming U+FFFD."""

    def __init__(self, text: _LineWriter):
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> int:
        self._text.write(self._decoder.decode(bytes(data)))
        return len(data)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._text.fileno()


class _RecordHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _send({"t": "log", "level": record.levelname, "line": self.format(record)})
        except Exception:  # noqa: BLE001 - logging must never raise into the job
            self.handleError(record)


class _Context(dict):
    """The run's context; read as ``context.run_id`` or ``context["run_id"]``."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class CpuTimeExceeded(BaseException):
    """Raised in the job when it has used its CPU seconds (a BaseException, so that
    ``except Exception`` in the job does not swallow it)."""


def _linux_setup() -> None:
    """Die with the parent, and keep malloc within an address-space limit (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    # The parent passes its pid: if it died before prctl took effect, this process has been
    # handed to another and must end now.
    if len(sys.argv) > 1 and os.getppid() != int(sys.argv[1]):
        os._exit(1)
    # glibc reserves 64 MiB of address space per thread arena, so under RLIMIT_AS a job with a
    # few threads fails with "can't start new thread" long before it uses its memory.
    mallopt = getattr(libc, "mallopt", None)  # absent from musl
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, 2)


def _set_limit(kind: int, soft: int, hard: int) -> None:
    current_hard = resource.getrlimit(kind)[1]
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


def _set_limits(
    memory_limit_mb: int | None,
    cpu_seconds: int | None,
    max_processes: int | None = None,
    file_size_mb: int | None = None,
) -> None:
    _set_limit(resource.RLIMIT_CORE, 0, 0)
    if max_processes:
        _set_limit(resource.RLIMIT_NPROC, int(max_processes), int(max_processes))
    if file_size_mb:
        size = int(file_size_mb) * 1024 * 1024
        _set_limit(resource.RLIMIT_FSIZE, size, size)
    if memory_limit_mb:
        size = int(memory_limit_mb) * 1024 * 1024
        _set_limit(resource.RLIMIT_AS, size, size)
    if cpu_seconds:
        seconds = int(cpu_seconds)

        def exceeded(signum, frame):
            raise CpuTimeExceeded(f"CPU time limit of {seconds} s exceeded")

        signal.signal(signal.SIGXCPU, exceeded)
        _set_limit(resource.RLIMIT_CPU, seconds, seconds + 1)


def _job_logger(job_id: object) -> logging.Logger:
    handler = _RecordHandler()
    root = logging.getLogger()
    root.handlers[:] = [handler]  # libraries the job uses log as well
    root.setLevel(logging.INFO)
    logger = logging.getLogger(f"job.{job_id}")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def _arguments(task, params: dict, context: _Context, logger: logging.Logger) -> dict:
    code = getattr(task, "__code__", None)
    if code is None:  # a callable object rather than a function
        return {}
    if code.co_flags & _CO_ASYNC:
        raise TypeError("execute_task must be a plain `def`, not `async def`")
    named = code.co_varnames[code.co_posonlyargcount : code.co_argcount + code.co_kwonlyargcount]
    given = {"params": params, "context": context, "logger": logger}
    kwargs = {}
    for name in named:
        if name in given:
            kwargs[name] = given[name]
        elif name in params:
            kwargs[name] = params[name]
    if code.co_flags & _CO_VARKEYWORDS:
        for name, value in params.items():
            if name not in named:
                kwargs.setdefault(name, value)
    return kwargs


def _run(job: dict, filename: str) -> object:
    code = job["code"]
    params = dict(job.get("params") or {})
    context = _Context(job.get("context") or {})
    logger = _job_logger(context.get("job_id"))
    # Lets tracebacks show the job's source lines; mtime None keeps checkcache from dropping it.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    compiled = compile(code, filename, "exec", dont_inherit=True)
    module = types.ModuleType("__whalefall_job__")
    module.__dict__.update(
        logger=logger, params=params, context=context, connect=_connector(job.get("instances") or {})
    )
    sys.modules[module.__name__] = module  # dataclasses and pickle look the module up there
    exec(compiled, module.__dict__)
    task = module.__dict__.get("execute_task")
    if not callable(task):
        raise NameError("code must define a top-level function `def execute_task():`")
    return task(**_arguments(task, params, context, logger))


def _render(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _clip(value, _MAX_VALUE)
    if isinstance(value, dict | list | tuple | int | float | bool):
        try:
            return _clip(json.dumps(value, ensure_ascii=False, default=str), _MAX_VALUE)
        except (TypeError, ValueError, RecursionError):  # non-string keys, cycles, deep nesting
            pass
    return _clip(str(value), _MAX_VALUE)


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - the job's exception may define any __str__
        message = "<str() of the exception failed>"
    name = type(exc).__name__
    return _clip(f"{name}: {message}" if message else name, _MAX_ERROR)


def _format_traceback(exc: BaseException, filename: str) -> str:
    # Start at the first frame of the job's code: the launcher's own frames are noise. When
    # there is none (a SyntaxError, a call with missing arguments), only the exception is shown.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return _clip("".join(traceback.format_exception(type(exc), exc, tb)), _MAX_VALUE)


def _connector(instances: dict):
    def connect(name: str, **options):
        """A DB-API connection to the registered instance ``name``, one of the job's ``uses_instances``;
        ``options`` go to the driver (``autocommit=True``, ``database=…``)."""
        spec = instances.get(name)
        if spec is None:
            declared = ", ".join(sorted(instances)) or "none"
            raise LookupError(f"instance {name!r} is not in this job's uses_instances (declared: {declared})")
        _send({"t": "use", "instance": name})
        kind, timeout = spec["db_type"], int(spec.get("connect_timeout") or 10)
        host, port, user, password = spec["host"], int(spec["port"]), spec["user"], spec["password"]
        database = spec.get("database") or None
        if kind == "mysql":
            import pymysql

            args = {"host": host, "port": port, "user": user, "password": password, "database": database}
            return pymysql.connect(**{**args, "connect_timeout": timeout, "charset": "utf8mb4", **options})
        if kind == "postgresql":
            import psycopg

            args = {"host": host, "port": port, "user": user, "password": password}
            args.update(
                dbname=database or "postgres", connect_timeout=timeout, application_name="whalefall-job"
            )
            return psycopg.connect(**{**args, **options})
        if kind == "sqlserver":
            import pymssql

            args = {
                "server": host,
                "port": str(port),
                "user": user,
                "password": password,
                "database": database,
            }
            return pymssql.connect(**{**args, "login_timeout": timeout, **options})
        if kind == "oracle":
            import oracledb

            dsn = f"{host}:{port}/{database or ''}"
            return oracledb.connect(**{"user": user, "password": password, "dsn": dsn, **options})
        raise ValueError(f"instance {name!r} has an unknown db_type {kind!r}")

    return connect


def _variable(name: str) -> str:
    return "WF_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in name).upper()


def _option_value(value: object) -> str:
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError("a value with a line break cannot be written to a client option file")
    return text


def _credential_env(instances: dict) -> dict:
    """The shell job's variables for its instances, writing the option files they point to."""
    if not instances:
        return {}
    folder = os.path.join(os.environ.get("HOME") or os.getcwd(), ".whalefall")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    env: dict[str, str] = {}
    services = []
    for name, spec in instances.items():
        prefix = _variable(name)
        values = {
            "HOST": spec["host"],
            "PORT": str(spec["port"]),
            "USER": spec["user"],
            "PASSWORD": spec["password"],
            "DATABASE": spec.get("database") or "",
            "TYPE": spec["db_type"],
        }
        env.update({f"{prefix}_{key}": str(value) for key, value in values.items()})
        if spec["db_type"] == "mysql":
            escaped = str(spec["password"]).replace("\\", "\\\\").replace('"', '\\"')
            lines = ["[client]", f"host={_option_value(spec['host'])}", f"port={int(spec['port'])}"]
            lines += [f"user={_option_value(spec['user'])}", f'password="{_option_value(escaped)}"']
            if spec.get("database"):
                lines.append(f"database={_option_value(spec['database'])}")
            path = os.path.join(folder, f"{prefix.lower()}.cnf")
            _write_private(path, "\n".join(lines) + "\n")
            env[f"{prefix}_CNF"] = path
        elif spec["db_type"] == "postgresql":
            services.append(
                f"[{name}]\nhost={_option_value(spec['host'])}\nport={int(spec['port'])}\n"
                f"user={_option_value(spec['user'])}\npassword={_option_value(spec['password'])}\n"
                f"dbname={_option_value(spec.get('database') or 'postgres')}\n"
            )
    if services:
        path = os.path.join(folder, "pg_service.conf")
        _write_private(path, "\n".join(services))
        env["PGSERVICEFILE"] = path
    if len(instances) == 1:
        spec = next(iter(instances.values()))
        if spec["db_type"] == "postgresql":
            env.update(PGHOST=spec["host"], PGPORT=str(spec["port"]), PGUSER=spec["user"])
            env.update(PGPASSWORD=spec["password"], PGDATABASE=spec.get("database") or "postgres")
        elif spec["db_type"] == "mysql":
            env.update(MYSQL_HOST=spec["host"], MYSQL_TCP_PORT=str(spec["port"]), MYSQL_PWD=spec["password"])
    return env


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _exec_command(job: dict) -> None:
    """Become the shell job's command; report an "error" only if it cannot be started."""
    argv = [str(part) for part in job["command"]]
    env = dict(os.environ)
    try:
        env.update(_credential_env(job.get("instances") or {}))
    except (OSError, ValueError) as exc:
        _send({"t": "error", "error": _describe(exc), "traceback": ""})
        os._exit(1)
    env.update({str(k): str(v) for k, v in (job.get("env") or {}).items()})
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # as a shell would start it
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        _send({"t": "error", "error": _describe(exc), "traceback": ""})
        os._exit(127)


def main() -> None:
    _linux_setup()
    os.umask(_JOB_UMASK)
    job = json.loads(sys.stdin.buffer.read())
    _set_limits(
        job.get("memory_limit_mb"), job.get("cpu_seconds"), job.get("max_processes"), job.get("file_size_mb")
    )
    if job.get("cwd"):
        try:
            os.chdir(job["cwd"])
        except OSError as exc:
            _send({"t": "error", "error": _describe(exc), "traceback": ""})
            os._exit(1)
    if job.get("command"):
        _exec_command(job)
    sys.path.extend(str(path) for path in job.get("sys_path") or () if path not in sys.path)
    out, err = _LineWriter(1), _LineWriter(2)
    sys.stdout, sys.stderr = out, err
    filename = f"<job:{(job.get('context') or {}).get('job_id')}>"
    try:
        record = {"t": "result", "value": _render(_run(job, filename))}
        exit_code = 0
    except BaseException as exc:  # noqa: BLE001 - the job's failure, SystemExit included, is the report
        # Formatting needs no locals; dropping them frees what the job held when memory ran out.
        traceback.clear_frames(exc.__traceback__)
        try:
            formatted = _format_traceback(exc, filename)
        except MemoryError:
            formatted = ""
        record = {"t": "error", "error": _describe(exc), "traceback": formatted}
        exit_code = 1
    out.send_partial()
    err.send_partial()
    _send(record)
    os._exit(exit_code)


if __name__ == "__main__":
    main()
