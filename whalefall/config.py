"""Typed settings from ``WHALEFALL_*`` variables and an optional YAML file.

Precedence: keyword overrides (tests, ``create_app``) > environment > the YAML
file named by ``WHALEFALL_CONFIG`` > defaults. Secrets also come from
``*_FILE`` variables. A bad value raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from whalefall import defaults
from whalefall.errors import ConfigError

SECRET_FILE_SETTINGS = ("secret_key", "database_url", "encryption_key")
DATA_DIR_MODE = 0o700


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WHALEFALL_", extra="forbid", case_sensitive=False)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # load_settings reads the environment it is given itself; pydantic only validates.
        return (init_settings,)

    data_dir: Path = Path(defaults.DATA_DIR)
    database_url: str | None = None
    secret_key: str | None = None
    timezone: str = defaults.TIMEZONE
    language: str = defaults.LANGUAGE
    executor: Literal["threads", "celery"] = "threads"
    executor_max_workers: int = Field(defaults.EXECUTOR_MAX_WORKERS, ge=1, le=256)
    enable_scheduler: bool = True
    notify_urls: str = ""
    base_url: str = defaults.BASE_URL
    run_retention_days: int = Field(defaults.RUN_RETENTION_DAYS, ge=1)
    log_retention_days: int = Field(defaults.LOG_RETENTION_DAYS, ge=1)
    # Where `whalefall backup` writes (default: <data dir>/backups) and how long backups are kept.
    backup_dir: Path | None = None
    backup_retention_days: int = Field(defaults.BACKUP_RETENTION_DAYS, ge=1, le=36_500)
    code_timeout_seconds: int = Field(defaults.CODE_TIMEOUT_SECONDS, ge=1)
    code_memory_limit_mb: int = Field(defaults.CODE_MEMORY_LIMIT_MB, ge=32)
    code_cpu_seconds: int = Field(defaults.CODE_CPU_SECONDS, ge=1)
    code_max_processes: int = Field(defaults.CODE_MAX_PROCESSES, ge=8, le=65536)
    code_file_size_mb: int = Field(defaults.CODE_FILE_SIZE_MB, ge=1)
    # The job sandbox (SPEC §5): "none" runs code and shell jobs without isolation, by choice.
    sandbox: Literal["bwrap", "none"] = "bwrap"
    sandbox_network: Literal["full", "none"] = "full"
    sandbox_uid_base: int = Field(defaults.SANDBOX_UID_BASE, ge=1000, le=2**31 - 65536)
    sandbox_gid: int = Field(defaults.SANDBOX_GID, ge=1, le=2**31)
    sandbox_writable_paths: str = ""  # comma-separated absolute paths jobs may write to
    sandbox_hidden_paths: str = ""  # comma-separated paths hidden from jobs, besides the product's own
    heartbeat_warning_seconds: int = Field(defaults.HEARTBEAT_WARNING_SECONDS, ge=1)
    lease_seconds: int = Field(defaults.LEASE_SECONDS, ge=3)
    node_stale_seconds: int = Field(defaults.NODE_STALE_SECONDS, ge=3)
    shutdown_grace_seconds: float = Field(defaults.SHUTDOWN_GRACE_SECONDS, ge=0)
    sync_interval_seconds: float = Field(defaults.SYNC_INTERVAL_SECONDS, gt=0, le=60)
    node_name: str | None = None
    host: str = defaults.HOST
    port: int = Field(defaults.PORT, ge=1, le=65535)
    log_json: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    session_cookie_secure: bool = False
    # How many reverse proxies in front of the web process set X-Forwarded-For / -Proto
    # (Werkzeug's ProxyFix); 0 believes no such header.
    trusted_proxies: int = Field(0, ge=0, le=10)
    # The database fleet (SPEC §10). Without an encryption key, one is derived from the secret key.
    encryption_key: str | None = None
    fleet_max_connections: int = Field(defaults.FLEET_MAX_CONNECTIONS, ge=1, le=64)
    fleet_connect_timeout_seconds: int = Field(defaults.FLEET_CONNECT_TIMEOUT_SECONDS, ge=1, le=600)
    fleet_statement_timeout_seconds: int = Field(defaults.FLEET_STATEMENT_TIMEOUT_SECONDS, ge=1, le=86400)
    fleet_exclude_system_accounts: bool = defaults.FLEET_EXCLUDE_SYSTEM_ACCOUNTS
    fleet_account_exclude: str = defaults.FLEET_ACCOUNT_EXCLUDE
    fleet_top_tables: int = Field(defaults.FLEET_TOP_TABLES, ge=0, le=1000)
    capacity_alert_days: int = Field(defaults.CAPACITY_ALERT_DAYS, ge=1, le=3650)
    partition_retention_months: int = Field(defaults.PARTITION_RETENTION_MONTHS, ge=1, le=120)
    partition_warning_size_mb: int = Field(defaults.PARTITION_WARNING_SIZE_MB, ge=1)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from whalefall.i18n import languages, normalize

        found = normalize(value)
        if found is None:
            raise ValueError(f"no catalogue for language {value!r} (have: {', '.join(languages())})")
        return found

    @field_validator("notify_urls")
    @classmethod
    def _apprise_urls(cls, value: str) -> str:
        if value.strip():
            from whalefall import notify  # loads Apprise's plugins: only when channels are configured

            for index, url in enumerate((u.strip() for u in value.split(",") if u.strip()), 1):
                try:
                    notify.check(url)
                except ValueError:
                    raise ValueError(f"URL {index} is not an Apprise URL we can send to") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected the console's address, e.g. https://whalefall.example.com")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (expected an IANA name such as Asia/Shanghai)"
            ) from None
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'whalefall.db').resolve()}"

    @field_validator("sandbox_writable_paths", "sandbox_hidden_paths")
    @classmethod
    def _absolute_paths(cls, value: str) -> str:
        for item in (p.strip() for p in value.split(",")):
            if item and not item.startswith("/"):
                raise ValueError(f"{item!r} is not an absolute path")
            if item and os.path.normpath(item) == "/":
                raise ValueError("the root directory cannot be listed")
        return value

    @staticmethod
    def path_list(value: str) -> list[Path]:
        return [Path(os.path.normpath(p.strip())) for p in value.split(",") if p.strip()]

    @property
    def notify_url_list(self) -> list[str]:
        return [u.strip() for u in self.notify_urls.split(",") if u.strip()]


def _yaml_values(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            values = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"WHALEFALL_CONFIG: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"WHALEFALL_CONFIG: {path} is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"WHALEFALL_CONFIG: {path} must hold a mapping of setting names to values")
    values = {str(k).lower().removeprefix("whalefall_"): v for k, v in values.items()}
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"WHALEFALL_CONFIG: unknown setting(s) in {path}: {', '.join(unknown)}")
    return values


def _file_values(environ: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in SECRET_FILE_SETTINGS:
        path = environ.get(f"WHALEFALL_{name.upper()}_FILE")
        if path and not environ.get(f"WHALEFALL_{name.upper()}"):
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"WHALEFALL_{name.upper()}_FILE: cannot read {path}: {exc.strerror}"
                ) from None
    return values


def load_settings(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build the settings; raise :class:`ConfigError` naming the first bad value."""
    environ = dict(os.environ if environ is None else environ)
    base: dict[str, Any] = {}
    if environ.get("WHALEFALL_CONFIG"):
        base.update(_yaml_values(environ["WHALEFALL_CONFIG"]))
    # Environment beats the file.
    prefix = "WHALEFALL_"
    for name, value in environ.items():
        key = name[len(prefix) :].lower() if name.upper().startswith(prefix) else None
        if key in Settings.model_fields:
            base[key] = value
    base.update(_file_values(environ))
    base.update(overrides or {})
    try:
        settings = Settings(**base)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "WHALEFALL_" + "_".join(str(p) for p in err["loc"]).upper()
        raise ConfigError(f"{name}: {err['msg']} (got {err.get('input')!r})") from None
    return settings


def prepare_data_dir(settings: Settings) -> Path:
    """Create the data directory when missing and make it private (0700) whoever created it.

    It holds the secret key, the SQLite database and the first admin's password:
    no other account on the machine may list or read it. Raises ``OSError``.
    """
    path = settings.data_dir
    path.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) != DATA_DIR_MODE:
        path.chmod(DATA_DIR_MODE)
    return path


def ensure_secret_key(settings: Settings) -> str:
    """The configured secret key, or one generated once and kept in the data dir."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    existing = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if existing:
        return existing
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Written whole to a temporary file, then linked into place: a reader never sees a
    # half-written key, and when two processes start at once the first link wins.
    tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
    try:
        if path.exists():  # an empty file left by a crash: replace it
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()
