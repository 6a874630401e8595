"""Every default in one place, with its unit in the name or the comment."""

from typing import Final

DATA_DIR = "./userdata"
TIMEZONE = "Asia/Shanghai"
BASE_URL = "http://127.0.0.1:5000"  # where alerts link to (WHALEFALL_BASE_URL)
LANGUAGE: Final = "zh"  # the default language: a folder of whalefall/translations/ (zh, en, …)

EXECUTOR_MAX_WORKERS = (
    20  # runs at once per scheduler: threads waiting on databases are cheap, and starts batch by them
)
MISFIRE_GRACE_SECONDS = 300
COALESCE = True
MAX_INSTANCES = 1
MAX_RETRIES = 0
RETRY_DELAY_SECONDS = 60  # doubles on each further attempt

CODE_TIMEOUT_SECONDS = 3600
CODE_MEMORY_LIMIT_MB = 1024  # all processes of one code or shell run together
CODE_CPU_SECONDS = 3600  # CPU time of all processes of one run together
CODE_MAX_PROCESSES = 256  # processes and threads of one run at once
CODE_FILE_SIZE_MB = 1024  # the largest file a run may write
SANDBOX_UID_BASE = 200000  # a root server runs run N as uid SANDBOX_UID_BASE + N % 65536
SANDBOX_GID = 65534  # the group of every run's uid (nogroup)

RUN_RETENTION_DAYS = 30
LOG_RETENTION_DAYS = 30
BACKUP_RETENTION_DAYS = 30  # `whalefall backup` and the backup_whalefall job remove backups older than this
RUN_LOG_MAX_CHARS = 1024 * 1024  # the tail of a run's log that is kept
RETURN_VALUE_MAX_CHARS = 64 * 1024

HEARTBEAT_INTERVAL_SECONDS = 60
HEARTBEAT_WARNING_SECONDS = 180  # health says "warning" when the last heartbeat is older

LEASE_SECONDS = 20  # the active scheduler renews its lease well before this
NODE_STALE_SECONDS = 30  # a node silent this long is dead: its running runs become interrupted
NODE_BEAT_SECONDS = 5  # a scheduler node renews its heartbeat at least this often
SHUTDOWN_GRACE_SECONDS = 30  # on stop, how long running runs may finish before they are interrupted
STOP_MARGIN_SECONDS = 5  # after the grace, how long interrupting them and letting go may take
SYNC_INTERVAL_SECONDS = 1.0  # how often the scheduler polls for changes made elsewhere

MAX_BODY_BYTES = 1024 * 1024
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 60

HOST = "127.0.0.1"
PORT = 5000

# The database fleet (SPEC §10)
FLEET_MAX_CONNECTIONS = 8  # instances worked on at once by a fleet task
FLEET_CONNECT_TIMEOUT_SECONDS = 10
FLEET_STATEMENT_TIMEOUT_SECONDS = 300  # each statement on a fleet instance (driver read/call timeout)
FLEET_EXCLUDE_SYSTEM_ACCOUNTS = (
    True  # skip the accounts each engine ships (mysql.sys, pg_*, ##MS_…##, Oracle-maintained)
)
FLEET_ACCOUNT_EXCLUDE = ""  # more accounts to skip: comma-separated globs, each optionally "engine:" prefixed
FLEET_TOP_TABLES = 10  # the largest tables kept per database at each size collection (0: none)
CAPACITY_ALERT_DAYS = 30  # an instance forecast to fill its disk sooner raises the `capacity` alert
PARTITION_RETENTION_MONTHS = (
    12  # monthly size partitions older than this many months before the current are dropped
)
PARTITION_WARNING_SIZE_MB = 10240  # a size partition larger than this makes the partition health a warning
