"""`qianjia doctor`: says what is wrong and how to fix it (naming the variable); exit code 1 on failure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot.fake_wechat import STABLE_TOKEN_PATH, FakeWeChatServer
from cli.main import cli
from core.config import ConfigError, env_name
from core.db import get_engine, upgrade
from services.health import OK, WARN, check_calendar, startup_calendar_check
from tests.ops.conftest import cli_env as doctor_env


def run_doctor(env: dict[str, str]) -> Any:
    return CliRunner(env=env).invoke(cli, ["doctor"])


def test_all_good(config: Any, db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    result = run_doctor(doctor_env(db_url, model_dir, fake_wechat))
    assert result.exit_code == 0, result.output
    assert "一切正常" in result.output and "✗" not in result.output
    assert "✓ 工作日历（节假日）：各小组均按自然小时计时" in result.output
    assert len(fake_wechat.received(STABLE_TOKEN_PATH)) == 1


def test_broken_database(model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    result = run_doctor(doctor_env("postgresql://qj@127.0.0.1:1/qianjia", model_dir, fake_wechat))
    assert result.exit_code == 1
    assert "✗ 数据库连接：无法连接数据库" in result.output
    assert "DATABASE_URL" in result.output
    assert "发现 1 个问题" in result.output


def test_wrong_app_secret(config: Any, db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    env = doctor_env(db_url, model_dir, fake_wechat, **{env_name("wechat.app_secret"): "not-the-secret"})
    result = run_doctor(env)
    assert result.exit_code == 1
    assert "错误码 40125" in result.output
    assert "AppSecret 不正确" in result.output and "QIANJIA_WECHAT__APP_SECRET" in result.output


def test_wrong_app_secret_is_found_even_with_a_valid_shared_token(config: Any, db_url: str, model_dir: Path,
                                                                    fake_wechat: FakeWeChatServer) -> None:
    assert run_doctor(doctor_env(db_url, model_dir, fake_wechat)).exit_code == 0  # caches a token
    env = doctor_env(db_url, model_dir, fake_wechat, **{env_name("wechat.app_secret"): "rotated-wrongly"})
    result = run_doctor(env)
    assert result.exit_code == 1 and "40125" in result.output


def test_missing_secret_and_old_schema(tmp_path: Path, model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(get_engine(url), "0001")
    env = doctor_env(url, model_dir, fake_wechat, **{env_name("wechat.encoding_aes_key"): ""})
    result = run_doctor(env)
    assert result.exit_code == 1
    assert "QIANJIA_WECHAT__ENCODING_AES_KEY" in result.output
    assert "qianjia db upgrade" in result.output
    assert "发现 2 个问题" in result.output
    get_engine(url).dispose()


def _this_year() -> int:
    return datetime.now(ZoneInfo("Asia/Shanghai")).year


def _calendar_env(holidays: str, **extra: str) -> dict[str, str]:
    return {env_name("sla.business_hours_teams"): "branch_ops", env_name("sla.calendar.holidays"): holidays, **extra}


def test_business_calendar_without_this_years_holidays_is_a_warning(
        config: Any, db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    year = _this_year()
    env = doctor_env(db_url, model_dir, fake_wechat, **_calendar_env(f"{year - 1}-10-01,{year - 1}-10-02"))
    result = run_doctor(env)
    assert result.exit_code == 0, result.output  # a warning, not a failure: the system still runs
    assert f"! 工作日历（节假日）：工作日历中没有 {year} 年的法定节假日（已配置：{year - 1}）" in result.output
    assert "branch_ops 的时限会把节假日算作工作日" in result.output
    assert "QIANJIA_SLA__CALENDAR__HOLIDAYS" in result.output


def test_business_calendar_with_this_and_next_years_holidays_is_fine(
        config: Any, db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    year = _this_year()
    env = doctor_env(db_url, model_dir, fake_wechat, **_calendar_env(f"{year}-10-01,{year + 1}-01-01"))
    result = run_doctor(env)
    assert result.exit_code == 0, result.output
    assert f"✓ 工作日历（节假日）：branch_ops 按工作时间计时；已配置 {year}、{year + 1} 年的节假日" in result.output


def test_broken_business_calendar_fails(config: Any, db_url: str, model_dir: Path,
                                        fake_wechat: FakeWeChatServer) -> None:
    env = doctor_env(db_url, model_dir, fake_wechat,
                     **_calendar_env("2026-13-01"))
    result = run_doctor(env)
    assert result.exit_code == 1
    assert "✗ 工作日历（节假日）：工作日历配置有误：日期 '2026-13-01' 格式应为 2026-10-01" in result.output
    assert "发现 1 个问题" in result.output


@pytest.mark.parametrize(("today", "holidays", "status", "detail"), [
    # From November the next year's arrangement is usually out: ask for it.
    (date(2026, 11, 28), "2026-10-01", WARN, "还没有 2027 年的法定节假日"),
    (date(2026, 10, 31), "2026-10-01", OK, "已配置 2026 年的节假日"),
    (date(2026, 11, 28), "2026-10-01,2027-02-06", OK, "已配置 2026、2027 年的节假日"),
    # The bank's day, not UTC's: 2027-01-01 00:30 in Shanghai is still 2026-12-31 in UTC.
    (datetime(2027, 1, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai")), "2026-10-01", WARN, "没有 2027 年的法定节假日"),
])
def test_calendar_check_by_date(config: Any, today: date | datetime, holidays: str, status: str, detail: str) -> None:
    now = today if isinstance(today, datetime) else datetime.combine(today, time(12), UTC)
    cfg = config.with_overrides({"sla.business_hours_teams": ["branch_ops"], "sla.calendar.holidays": holidays})
    check = check_calendar(cfg, now=now.astimezone(UTC))
    assert check.status == status and detail in check.detail, check


def test_startup_check_warns_or_stops(config: Any) -> None:
    """What `serve` and `scheduler` print (a missing year) or stop on (a calendar that cannot be read)."""
    now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    assert startup_calendar_check(config, now=now) is None  # no business-hours team: nothing to say
    teams = {"sla.business_hours_teams": "branch_ops,card_center"}
    warning = startup_calendar_check(config.with_overrides({**teams, "sla.calendar.holidays": "2025-10-01"}), now=now)
    assert warning is not None and warning.startswith("注意：工作日历中没有 2026 年的法定节假日")
    assert "branch_ops、card_center 的时限会把节假日算作工作日" in warning
    with pytest.raises(ConfigError, match="工作日历配置有误：未知的时区 'Mars/Olympus'"):
        startup_calendar_check(config.with_overrides({**teams, "sla.calendar.timezone": "Mars/Olympus"}), now=now)
