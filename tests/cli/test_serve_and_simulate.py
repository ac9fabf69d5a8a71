"""The main job from outside: `qianjia serve --demo` in its own process, `qianjia simulate` talking to it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import TEST_SECRETS

QIANJIA = [sys.executable, "-m", "cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANJIA_") and k != "DATABASE_URL"}
    env.update(extra)
    return env


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def test_serve_without_secrets_names_the_missing_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        QIANJIA + ["serve", "--port", str(free_port())],
        env=clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"),
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "QIANJIA_WECHAT__TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_bad_trusted_proxies_before_touching_the_database(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = subprocess.run(
        QIANJIA + ["serve", "--demo", "--port", str(free_port())],
        env=clean_env(DATABASE_URL=f"sqlite:///{db}", QIANJIA_SERVER__TRUSTED_PROXIES="-1"),
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )
    assert result.returncode != 0
    assert "QIANJIA_SERVER__TRUSTED_PROXIES" in result.stderr and "Traceback" not in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("command", [["serve", "--demo"], ["scheduler"]])
def test_serve_and_scheduler_refuse_a_broken_business_calendar_before_touching_the_database(
        tmp_path: Path, command: list[str]) -> None:
    """Deadlines of a business-hours team could not be computed: stop at start, not at the first ticket."""
    db = tmp_path / "x.db"
    secrets = {f"QIANJIA_{k.replace('.', '__').upper()}": v for k, v in TEST_SECRETS.items()}
    result = subprocess.run(
        QIANJIA + command + (["--port", str(free_port())] if command[0] == "serve" else []),
        env=clean_env(DATABASE_URL=f"sqlite:///{db}", QIANJIA_SLA__BUSINESS_HOURS_TEAMS="branch_ops",
                      QIANJIA_SLA__CALENDAR__WORKING_HOURS='["17:00-09:00"]', **secrets),
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )
    assert result.returncode != 0
    assert "工作日历配置有误" in result.stderr and "结束时间须晚于开始时间" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()


def test_bad_cli_arguments_are_refused() -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and "70000" in result.output


def test_demo_server_and_simulator_chat(tmp_path: Path, model_dir: Path) -> None:
    """A fresh user's walkthrough: serve --demo, then simulate a customer writing a complaint."""
    port, fake_port = free_port(), free_port()
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        QIANJIA_DEMO__FAKE_WECHAT_PORT=str(fake_port),
        QIANJIA_NLP__MODEL_DIR=str(model_dir),
    )
    server = subprocess.Popen(QIANJIA + ["serve", "--demo", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, server)
        result = subprocess.run(
            QIANJIA + ["simulate", "--url", f"http://127.0.0.1:{port}", "--openid", "oWalkthroughUser0000000001",
                       "--wait", "0", "--send", "人民路支行的ATM吞了我的卡，打客服电话一直占线"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert re.search(r"工单号：QJ\d{6}-\d{6}", result.stdout), result.stdout
        assert "24小时" in result.stdout
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/wechat" in out
    assert "演示管理员账号：demo" in out and "已生成演示历史数据" in out


def test_simulate_reports_a_refused_message(live_server: Any) -> None:
    env = {f"QIANJIA_{k.upper().replace('.', '__')}": v for k, v in TEST_SECRETS.items()}
    env["QIANJIA_WECHAT__TOKEN"] = "not-the-token"
    result = CliRunner(env=env).invoke(cli, ["simulate", "--url", live_server.url, "--wait", "0", "--send", "你好"])
    assert result.exit_code == 1
    assert "403" in result.output


def test_simulate_against_a_live_server(live_server: Any) -> None:
    env = {f"QIANJIA_{k.upper().replace('.', '__')}": v for k, v in TEST_SECRETS.items()}
    result = CliRunner(env=env).invoke(
        cli, ["simulate", "--url", live_server.url, "--wait", "0", "--send", "手机银行转账失败了两次，钱扣了没到账"])
    assert result.exit_code == 0, result.output
    assert re.search(r"QJ\d{6}-\d{6}", result.output)


@pytest.mark.parametrize("args", [["db", "upgrade"], ["db", "current"]])
def test_db_commands(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner(env={"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}).invoke(cli, args)
    assert result.exit_code == 0, result.output
