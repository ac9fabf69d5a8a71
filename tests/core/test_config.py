"""Configuration: config.yaml, QIANJIA_CONFIG, QIANJIA_* overrides, DATABASE_URL, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, env_name, load_config


def test_defaults_come_from_config_yaml() -> None:
    cfg = load_config(environ={})
    assert cfg.get("timezone") == "Asia/Shanghai"
    assert cfg.get("wechat.timestamp_tolerance_seconds") == 300
    assert cfg.get("wechat.max_body_bytes") == 65536
    assert cfg.database_url.startswith("sqlite:///")


def test_environment_overrides_nested_keys_with_typed_values() -> None:
    cfg = load_config(environ={
        "QIANJIA_WECHAT__TOKEN": "abc",
        "QIANJIA_WECHAT__TIMESTAMP_TOLERANCE_SECONDS": "0",
        "QIANJIA_SLA__PRIORITIES__URGENT__FIRST_REPLY_HOURS": "1.5",
        "QIANJIA_WECHAT__API_BASE_URL": "http://127.0.0.1:9/",
        "DATABASE_URL": "postgresql://u@h/db",
    })
    assert cfg.get("wechat.token") == "abc"
    assert cfg.get("wechat.timestamp_tolerance_seconds") == 0
    assert cfg.get("sla.priorities.urgent.first_reply_hours") == 1.5
    assert cfg.get("wechat.api_base_url") == "http://127.0.0.1:9/"
    assert cfg.database_url == "postgresql://u@h/db"


def test_a_date_shaped_value_that_is_no_date_stays_text() -> None:
    """YAML reads "2026-13-01" as a timestamp and raises; the value is kept as text for its checker to refuse."""
    cfg = load_config(environ={"QIANJIA_SLA__CALENDAR__HOLIDAYS": "2026-13-01", "QIANJIA_TIMEZONE": "2026-02-30"})
    assert cfg.get("sla.calendar.holidays") == "2026-13-01"
    assert cfg.get("timezone") == "2026-02-30"


@pytest.mark.parametrize("text", ["sla:\n  calendar:\n    holidays: [2026-13-01]\n", "sla: [unclosed\n"])
def test_an_unreadable_config_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "prod.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="prod.yaml 无法解析"):
        load_config(environ={"QIANJIA_CONFIG": str(bad)})


def test_secrets_stay_strings() -> None:
    assert load_config(environ={"QIANJIA_WECHAT__APP_SECRET": "0123"}).get("wechat.app_secret") == "0123"


def test_qianjia_config_file_is_merged(tmp_path: Path) -> None:
    extra = tmp_path / "prod.yaml"
    extra.write_text("server:\n  port: 9999\nwechat:\n  mode: plain\n", encoding="utf-8")
    cfg = load_config(environ={"QIANJIA_CONFIG": str(extra)})
    assert cfg.get("server.port") == 9999
    assert cfg.get("wechat.mode") == "plain"
    assert cfg.get("server.host") == "127.0.0.1"  # untouched keys keep their defaults


def test_secret_in_a_yaml_file_is_refused(tmp_path: Path) -> None:
    extra = tmp_path / "leaky.yaml"
    extra.write_text("wechat:\n  app_secret: hunter2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(environ={"QIANJIA_CONFIG": str(extra)})
    assert "QIANJIA_WECHAT__APP_SECRET" in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(environ={"QIANJIA_CONFIG": str(tmp_path / "nope.yaml")})
    assert "nope.yaml" in str(err.value)


def test_require_names_the_environment_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(environ={}).require("wechat.encoding_aes_key")
    assert "QIANJIA_WECHAT__ENCODING_AES_KEY" in str(err.value)
    assert env_name("wechat.app_id") == "QIANJIA_WECHAT__APP_ID"


def test_secrets_are_masked_in_the_config_view() -> None:
    cfg = load_config(environ={"QIANJIA_WECHAT__APP_SECRET": "s3cret"})
    assert "s3cret" not in str(cfg.as_dict())
