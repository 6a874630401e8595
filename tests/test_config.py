"""Settings: defaults, ``WHALEFALL_*`` variables, a YAML file, ``*_FILE`` secrets, loud failures."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from whalefall.config import Settings, ensure_secret_key, load_settings
from whalefall.errors import ConfigError


@pytest.fixture
def env(monkeypatch):
    """The process environment with every WHALEFALL_* variable removed; ``env(NAME=value)`` sets some."""
    for name in list(os.environ):
        if name.upper().startswith("WHALEFALL_"):
            monkeypatch.delenv(name)

    def set_vars(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_vars


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "whalefall.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- defaults and sources ----------------------------------------------------


def test_defaults_apply_when_nothing_is_configured(env):
    settings = load_settings()
    assert settings.timezone == "Asia/Shanghai"
    assert settings.executor_max_workers == 20
    assert settings.data_dir == Path("./userdata")
    assert settings.enable_scheduler is True
    assert settings.database_url is None and settings.secret_key is None
    assert settings.run_retention_days == 30 and settings.log_retention_days == 30
    assert settings.notify_url_list == []


def test_the_default_database_is_sqlite_in_the_data_dir(env, tmp_path):
    env(WHALEFALL_DATA_DIR=str(tmp_path / "data"))
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'data' / 'whalefall.db').resolve()}"


def test_environment_variables_set_the_settings(env, tmp_path):
    env(
        WHALEFALL_DATA_DIR=str(tmp_path),
        WHALEFALL_TIMEZONE="Europe/Berlin",
        WHALEFALL_EXECUTOR_MAX_WORKERS="12",
        WHALEFALL_ENABLE_SCHEDULER="false",
        WHALEFALL_DATABASE_URL="postgresql+psycopg://u@db/wf",
        WHALEFALL_NOTIFY_URLS="mailto://a@example.com, slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7 ,",
        WHALEFALL_SECRET_KEY="s3cret",
    )
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.timezone == "Europe/Berlin"
    assert settings.executor_max_workers == 12
    assert settings.enable_scheduler is False
    assert settings.resolved_database_url == "postgresql+psycopg://u@db/wf"
    assert settings.notify_url_list == [
        "mailto://a@example.com",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
    ]
    assert settings.secret_key == "s3cret"


@pytest.mark.parametrize("text", ["0", "no", "off", "False"])
def test_the_scheduler_is_disabled_by_any_false_spelling(env, text):
    env(WHALEFALL_ENABLE_SCHEDULER=text)
    assert load_settings().enable_scheduler is False


def test_overrides_beat_the_environment(env):
    env(WHALEFALL_TIMEZONE="Europe/Berlin")
    assert load_settings({"timezone": "UTC"}).timezone == "UTC"


def test_a_yaml_file_sets_settings_and_the_environment_beats_it(env, tmp_path):
    path = config_file(
        tmp_path,
        "timezone: Europe/Berlin\nexecutor_max_workers: 9\n"
        "WHALEFALL_RUN_RETENTION_DAYS: 7\nenable_scheduler: false\n",
    )
    env(WHALEFALL_CONFIG=path, WHALEFALL_EXECUTOR_MAX_WORKERS="3")
    settings = load_settings()
    assert settings.timezone == "Europe/Berlin"
    assert settings.executor_max_workers == 3
    assert settings.run_retention_days == 7  # a key may carry the WHALEFALL_ prefix
    assert settings.enable_scheduler is False


def test_an_empty_yaml_file_changes_nothing(env, tmp_path):
    env(WHALEFALL_CONFIG=config_file(tmp_path, ""))
    assert load_settings().executor_max_workers == 20


def test_the_secret_key_is_read_from_a_file(env, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("  from-a-file\n", encoding="utf-8")
    env(WHALEFALL_SECRET_KEY_FILE=str(secret))
    assert load_settings().secret_key == "from-a-file"


def test_the_database_url_is_read_from_a_file(env, tmp_path):
    secret = tmp_path / "db-url"
    secret.write_text("postgresql+psycopg://u:pw@db/wf\n", encoding="utf-8")
    env(WHALEFALL_DATABASE_URL_FILE=str(secret))
    assert load_settings().resolved_database_url == "postgresql+psycopg://u:pw@db/wf"


def test_the_secret_key_variable_beats_its_file(env, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n", encoding="utf-8")
    env(WHALEFALL_SECRET_KEY_FILE=str(secret), WHALEFALL_SECRET_KEY="from-the-variable")
    assert load_settings().secret_key == "from-the-variable"


def test_an_explicit_environ_mapping_is_the_environment(env):
    settings = load_settings(environ={"WHALEFALL_TIMEZONE": "UTC", "WHALEFALL_EXECUTOR_MAX_WORKERS": "7"})
    assert (settings.timezone, settings.executor_max_workers) == ("UTC", 7)


def test_a_bad_value_in_an_explicit_environ_mapping_raises(env):
    with pytest.raises(ConfigError, match="WHALEFALL_EXECUTOR_MAX_WORKERS"):
        load_settings(environ={"WHALEFALL_EXECUTOR_MAX_WORKERS": "many"})


def test_an_explicit_environ_mapping_names_the_config_file(env, tmp_path):
    path = config_file(tmp_path, "timezone: Europe/Berlin\n")
    assert load_settings(environ={"WHALEFALL_CONFIG": path}).timezone == "Europe/Berlin"


# --- bad values stop start-up, naming the variable -----------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WHALEFALL_EXECUTOR_MAX_WORKERS", "five"),
        ("WHALEFALL_EXECUTOR_MAX_WORKERS", "0"),
        ("WHALEFALL_PORT", "70000"),
        ("WHALEFALL_RUN_RETENTION_DAYS", "1.5"),
        ("WHALEFALL_ENABLE_SCHEDULER", "maybe"),
        ("WHALEFALL_SESSION_COOKIE_SECURE", "sometimes"),
        ("WHALEFALL_TIMEZONE", "Mars/Olympus_Mons"),
        ("WHALEFALL_EXECUTOR", "processes"),
        ("WHALEFALL_LANGUAGE", "fr"),
    ],
)
def test_a_bad_environment_value_raises_a_config_error_naming_it(env, name, value):
    env(**{name: value})
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message.startswith(name)
    assert value in caught.value.message


def test_an_unknown_timezone_says_what_was_expected(env):
    env(WHALEFALL_TIMEZONE="Asia/Shangai")
    with pytest.raises(ConfigError, match=r"WHALEFALL_TIMEZONE: .*unknown timezone 'Asia/Shangai'.*IANA"):
        load_settings()


def test_a_bad_value_in_the_yaml_file_raises_a_config_error_naming_it(env, tmp_path):
    env(WHALEFALL_CONFIG=config_file(tmp_path, "executor_max_workers: lots\n"))
    with pytest.raises(ConfigError, match="WHALEFALL_EXECUTOR_MAX_WORKERS"):
        load_settings()


def test_a_missing_config_file_raises_a_config_error_naming_the_variable(env, tmp_path):
    env(WHALEFALL_CONFIG=str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match=r"^WHALEFALL_CONFIG: cannot read .*absent\.yaml"):
        load_settings()


def test_an_unreadable_config_file_raises_a_config_error_naming_the_variable(env, tmp_path):
    env(WHALEFALL_CONFIG=str(tmp_path))  # a directory cannot be read as a file
    with pytest.raises(ConfigError, match="^WHALEFALL_CONFIG: cannot read"):
        load_settings()


def test_a_config_file_that_is_not_yaml_raises_a_config_error(env, tmp_path):
    env(WHALEFALL_CONFIG=config_file(tmp_path, "timezone: [unclosed\n"))
    with pytest.raises(ConfigError, match="^WHALEFALL_CONFIG: .* is not valid YAML"):
        load_settings()


def test_a_config_file_holding_a_list_raises_a_config_error(env, tmp_path):
    env(WHALEFALL_CONFIG=config_file(tmp_path, "- timezone\n- UTC\n"))
    with pytest.raises(ConfigError, match="^WHALEFALL_CONFIG: .* must hold a mapping"):
        load_settings()


def test_an_unreadable_secret_file_raises_a_config_error_naming_the_variable(env, tmp_path):
    env(WHALEFALL_SECRET_KEY_FILE=str(tmp_path / "no-such-secret"))
    with pytest.raises(ConfigError, match="^WHALEFALL_SECRET_KEY_FILE: cannot read"):
        load_settings()


# --- the generated secret key ------------------------------------------------


def test_a_secret_key_is_generated_once_into_the_data_dir_with_mode_0600(env, tmp_path):
    settings = Settings(data_dir=tmp_path / "fresh")
    key = ensure_secret_key(settings)
    path = tmp_path / "fresh" / "secret_key"
    assert len(key) >= 32
    assert path.read_text(encoding="utf-8").strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_secret_key(Settings(data_dir=tmp_path / "fresh")) == key


def test_a_configured_secret_key_is_used_and_nothing_is_written(env, tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="configured")
    assert ensure_secret_key(settings) == "configured"
    assert not (tmp_path / "secret_key").exists()


def test_two_data_dirs_get_different_secret_keys(env, tmp_path):
    assert ensure_secret_key(Settings(data_dir=tmp_path / "a")) != ensure_secret_key(
        Settings(data_dir=tmp_path / "b")
    )


def test_an_empty_secret_key_file_never_becomes_the_key(env, tmp_path):
    (tmp_path / "secret_key").write_text("", encoding="utf-8")
    assert ensure_secret_key(Settings(data_dir=tmp_path))
