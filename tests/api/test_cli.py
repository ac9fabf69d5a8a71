"""`qianjia apikey create|list|revoke` through the real CLI entry point."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import cli
from models import ApiClient, AuditLog
from services.apikeys import IssuedKey, hash_api_key
from tests.api.conftest import AppUser, flask_transport

KEY = re.compile(r"qjk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def qianjia(db_url: str, config: Any) -> Any:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["apikey", *args], env={"DATABASE_URL": db_url})

    return run


def created(output: str) -> tuple[str, str]:
    key = KEY.search(output)
    secret = re.search(r"签名密钥.*：(\S+)", output)
    assert key and secret, output
    return key.group(0), secret.group(1)


def test_create_prints_the_key_once_and_stores_only_its_hash(qianjia: Any, runtime: Any, client: Any) -> None:
    result = qianjia("create", "ios-app")
    assert result.exit_code == 0, result.output
    api_key, signing_secret = created(result.output)
    with runtime.sessions() as s:
        row = s.scalars(select(ApiClient)).one()
        audit = s.scalars(select(AuditLog)).one()
    assert row.name == "ios-app" and row.app == "mobile" and row.revoked_at is None
    assert row.key_hash == hash_api_key(api_key) and api_key not in (row.key_hash, row.key_prefix)
    assert api_key.startswith(row.key_prefix)
    assert (audit.action, audit.target_id) == ("apikey.create", str(row.id)) and api_key not in str(audit.data)
    # The printed credentials work.
    user = AppUser(flask_transport(client), IssuedKey(client=row, api_key=api_key, signing_secret=signing_secret), "c1")
    assert user.tickets().status == 200

    listing = qianjia("list")
    assert listing.exit_code == 0
    assert "ios-app" in listing.output and row.key_prefix in listing.output and "有效" in listing.output
    assert api_key not in listing.output and signing_secret not in listing.output


def test_create_with_app_and_rate_limit(qianjia: Any, runtime: Any) -> None:
    assert qianjia("create", "partner", "--app", "wealth", "--rate-limit", "30").exit_code == 0
    with runtime.sessions() as s:
        row = s.scalars(select(ApiClient)).one()
    assert (row.app, row.rate_limit_per_minute) == ("wealth", 30)
    assert "30" in qianjia("list").output


@pytest.mark.parametrize("args", [["bad name"], ["x", "--rate-limit", "0"], ["x", "--app", "空格 app"]])
def test_bad_input_is_refused_and_nothing_is_stored(qianjia: Any, runtime: Any, args: list[str]) -> None:
    result = qianjia("create", *args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    with runtime.sessions() as s:
        assert s.scalars(select(ApiClient)).all() == []


def test_a_name_is_used_once(qianjia: Any, runtime: Any) -> None:
    assert qianjia("create", "ios").exit_code == 0
    again = qianjia("create", "ios")
    assert again.exit_code != 0 and "已被使用" in again.output
    assert KEY.search(again.output) is None
    with runtime.sessions() as s:
        assert len(s.scalars(select(ApiClient)).all()) == 1


def test_revoke_by_name_or_id(qianjia: Any, runtime: Any) -> None:
    qianjia("create", "ios")
    qianjia("create", "android")
    with runtime.sessions() as s:
        android_id = s.scalars(select(ApiClient.id).where(ApiClient.name == "android")).one()
    assert qianjia("revoke", "ios").exit_code == 0
    result = qianjia("revoke", str(android_id))
    assert result.exit_code == 0 and "已吊销" in result.output
    again = qianjia("revoke", "ios")
    assert again.exit_code == 0 and "早已吊销" in again.output
    with runtime.sessions() as s:
        assert all(c.revoked_at is not None for c in s.scalars(select(ApiClient)))
        assert [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))].count("apikey.revoke") == 2
    assert qianjia("list").output.count("已吊销") == 2


def test_revoking_an_unknown_key_fails_clearly(qianjia: Any) -> None:
    result = qianjia("revoke", "nobody")
    assert result.exit_code != 0 and "找不到" in result.output and "Traceback" not in result.output


def test_list_when_empty(qianjia: Any) -> None:
    result = qianjia("list")
    assert result.exit_code == 0 and "qianjia apikey create" in result.output
