"""`qianjia wechat menu push`, `qianjia wechat qrcode BRANCH` and `qianjia wechat survey launch`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from cli.main import cli
from core.config import env_name
from models import AuditLog, SurveyRound
from services.menu import REQUIRED_KEYS, wechat_menu
from tests.conftest import TEST_SECRETS
from tests.conversations.conftest import Bank


def run(bank: Bank, *args: str) -> Any:
    env = {env_name(k): v for k, v in TEST_SECRETS.items()}
    env.update(DATABASE_URL=bank.cfg.database_url, QIANJIA_WECHAT__API_BASE_URL=bank.fake.url,
               QIANJIA_WECHAT__TOKEN_CACHE="memory")
    return CliRunner().invoke(cli, list(args), env=env)


def test_menu_push_installs_the_configured_menu(bank: Bank) -> None:
    result = run(bank, "wechat", "menu", "push")
    assert result.exit_code == 0, result.output
    assert "菜单已发布" in result.output
    [menu] = bank.fake.menus()
    assert menu == wechat_menu(bank.cfg)
    keys = [b.get("key") for top in menu["button"] for b in top.get("sub_button", [top])]
    assert sorted(keys) == sorted(REQUIRED_KEYS)
    assert bank.run(lambda s: s.scalars(select(AuditLog.action)).all()) == ["wechat.menu_push"]


def test_a_menu_wechat_would_refuse_is_not_sent(bank: Bank, tmp_path: Path) -> None:
    extra = tmp_path / "menu.yaml"
    extra.write_text("menu:\n  buttons:\n" + "".join(
        f"    - {{name: 按钮{i}, key: K{i}}}\n" for i in range(4)), encoding="utf-8")
    result = run(bank, "--config", str(extra), "wechat", "menu", "push")
    assert result.exit_code != 0 and "1 到 3 个一级按钮" in result.output
    assert bank.fake.menus() == []


def test_qrcode_for_a_branch_carries_its_code_as_the_scene(bank: Bank) -> None:
    result = run(bank, "wechat", "qrcode", "RMR")
    assert result.exit_code == 0, result.output
    [request] = bank.fake.qrcodes()
    assert request["action_name"] == "QR_LIMIT_STR_SCENE"
    assert request["action_info"]["scene"]["scene_str"] == "RMR"
    assert "千佳银行人民路支行营业部" in result.output and "showqrcode?ticket=" in result.output

    unknown = run(bank, "wechat", "qrcode", "NOPE")
    assert unknown.exit_code != 0 and "找不到网点 NOPE" in unknown.output
    assert len(bank.fake.qrcodes()) == 1


def test_survey_launch(bank: Bank) -> None:
    bad = run(bank, "wechat", "survey", "launch", "--name", "季度调查", "--branches", "RMR,NOPE")
    assert bad.exit_code != 0 and "找不到网点：NOPE" in bad.output
    good = run(bank, "wechat", "survey", "launch", "--name", "季度调查", "--branches", "RMR,CDB",
               "--audience", "checked_in", "--starts", "2026-12-01", "--ends", "2026-12-31")
    assert good.exit_code == 0, good.output
    again = run(bank, "wechat", "survey", "launch", "--name", "季度调查")
    assert again.exit_code != 0 and "同名" in again.output
    with bank.db() as s:
        survey_round = s.scalars(select(SurveyRound)).one()
        assert survey_round.branch_codes == ["CDB", "RMR"] and survey_round.audience == "checked_in"
        assert survey_round.starts_at.astimezone(bank.runtime.tz).isoformat() == "2026-12-01T00:00:00+08:00"
