"""`qianjia doctor`: says what is wrong and how to fix it (naming the variable); exit code 1 on failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bot.fake_wechat import STABLE_TOKEN_PATH, FakeWeChatServer
from cli.main import cli
from core.config import env_name
from core.db import get_engine, upgrade
from tests.ops.conftest import cli_env as doctor_env


def run_doctor(env: dict[str, str]) -> Any:
    return CliRunner(env=env).invoke(cli, ["doctor"])


def test_all_good(config: Any, db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer) -> None:
    result = run_doctor(doctor_env(db_url, model_dir, fake_wechat))
    assert result.exit_code == 0, result.output
    assert "一切正常" in result.output and "✗" not in result.output
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
