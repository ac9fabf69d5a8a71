"""Staff accounts (service and `qianjia staff`), password hashing, throttled sign-in, session lifetime."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import cli
from models import AuditLog, LoginAttempt, Staff, StaffSession
from services import auth
from services import staff as staff_service
from services.access import InputError
from tests.console.conftest import PASSWORD, Bank


def _env(db_url: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url, "QIANJIA_CONSOLE__PASSWORD_HASHING__MEMORY_KIB": "1024",
            "QIANJIA_CONSOLE__PASSWORD_HASHING__TIME_COST": "1", "QIANJIA_CONSOLE__PASSWORD_HASHING__PARALLELISM": "1"}


def test_cli_staff_add_with_password_stdin(bank: Bank, db_url: str) -> None:
    result = CliRunner().invoke(cli, ["staff", "add", "Lihua", "--role", "manager", "--branch", "RMR", "--branch",
                                      "cdb", "--name", "李华", "--password-stdin"],
                                input="a-very-long-password\n", env=_env(db_url))
    assert result.exit_code == 0, result.output
    assert "已创建员工 lihua" in result.output and "RMR、CDB" in result.output.replace("CDB、RMR", "RMR、CDB")
    with bank.session() as s:
        person = bank.staff(s, "lihua")
        assert person.role == "manager" and {b.code for b in person.branches} == {"RMR", "CDB"}
        assert person.password_hash.startswith("$argon2id$") and "a-very-long-password" not in person.password_hash
        assert s.scalars(select(AuditLog.actor).where(AuditLog.action == "staff.create",
                                                      AuditLog.target_id == str(person.id))).one().startswith("cli")
    signed_in = None
    with bank.session() as s:
        signed_in = auth.login(s, username="LIHUA", password="a-very-long-password", remote_addr="127.0.0.1",
                               now=bank.now, cfg=bank.runtime.cfg)
    assert signed_in.staff.username == "lihua"


def test_cli_staff_add_prompts_for_the_password_twice(bank: Bank, db_url: str) -> None:
    result = CliRunner().invoke(cli, ["staff", "add", "wang", "--role", "agent", "--team", "digital"],
                                input="pw-number-one!\npw-number-one!\n", env=_env(db_url))
    assert result.exit_code == 0, result.output
    assert bank.count(Staff, Staff.username == "wang") == 1


@pytest.mark.parametrize("args,message", [
    (["x", "--role", "agent", "--team", "digital"], "用户名"),
    (["zhang", "--role", "agent"], "小组"),
    (["zhang", "--role", "agent", "--team", "nosuchteam"], "没有小组"),
    (["zhang", "--role", "manager"], "网点"),
    (["zhang", "--role", "manager", "--branch", "NOPE"], "NOPE"),
    (["agent", "--role", "admin"], "已存在"),
])
def test_cli_staff_add_refuses_bad_input_and_writes_nothing(bank: Bank, db_url: str, args: list[str],
                                                            message: str) -> None:
    before = bank.count(Staff)
    result = CliRunner().invoke(cli, ["staff", "add", *args, "--password-stdin"], input="long-enough-password\n",
                                env=_env(db_url))
    assert result.exit_code != 0
    assert message in result.output
    assert bank.count(Staff) == before


def test_short_password_is_refused(bank: Bank, db_url: str) -> None:
    result = CliRunner().invoke(cli, ["staff", "add", "zhao", "--role", "admin", "--password-stdin"], input="short\n",
                                env=_env(db_url))
    assert result.exit_code != 0 and "至少" in result.output
    assert bank.count(Staff, Staff.username == "zhao") == 0


def test_cli_list_set_password_and_deactivate(bank: Bank, db_url: str) -> None:
    runner = CliRunner()
    listing = runner.invoke(cli, ["staff", "list"], env=_env(db_url))
    assert "manager\tmanager\t-\tRMR" in listing.output
    with bank.session() as s:
        auth.login(s, username="agent", password=PASSWORD, remote_addr="1.2.3.4", now=bank.now, cfg=bank.runtime.cfg)
    assert bank.count(StaffSession) == 1
    result = runner.invoke(cli, ["staff", "set-password", "agent", "--password-stdin"], input="another-password\n",
                           env=_env(db_url))
    assert result.exit_code == 0, result.output
    assert bank.count(StaffSession) == 0  # signed out everywhere
    result = runner.invoke(cli, ["staff", "deactivate", "agent"], env=_env(db_url))
    assert result.exit_code == 0
    with pytest.raises(auth.LoginRefused), bank.session() as s:
        auth.login(s, username="agent", password="another-password", remote_addr="1.2.3.4", now=bank.now,
                   cfg=bank.runtime.cfg)


def _try(bank: Bank, username: str, password: str, *, addr: str = "10.0.0.1", at: Any = None) -> str:
    try:
        with bank.session() as s:
            auth.login(s, username=username, password=password, remote_addr=addr, now=at or bank.now,
                       cfg=bank.runtime.cfg)
        return "ok"
    except auth.LoginRefused:
        return "refused"
    except auth.LoginThrottled:
        return "throttled"


def _fail_and_keep(bank: Bank, username: str, *, addr: str, at: Any) -> str:
    # A refused login raises inside the transaction; the console commits the attempt before answering.
    with bank.runtime.sessions() as s:
        try:
            auth.login(s, username=username, password="wrong", remote_addr=addr, now=at, cfg=bank.runtime.cfg)
        except auth.LoginRefused:
            s.commit()
            return "refused"
        except auth.LoginThrottled:
            return "throttled"
    return "ok"


def test_login_is_throttled_per_username_after_repeated_failures(bank: Bank) -> None:
    results = [_fail_and_keep(bank, "agent", addr=f"10.0.0.{i}", at=bank.now + timedelta(seconds=i))
               for i in range(6)]
    assert results == ["refused"] * 5 + ["throttled"]
    # Even the right password waits out the window; afterwards it works again.
    assert _try(bank, "agent", PASSWORD, at=bank.now + timedelta(minutes=1)) == "throttled"
    assert _try(bank, "agent", PASSWORD, at=bank.now + timedelta(minutes=16)) == "ok"
    # Another account is unaffected.
    assert _try(bank, "carder", PASSWORD, addr="10.9.9.9", at=bank.now + timedelta(minutes=1)) == "ok"


def test_login_is_throttled_per_address_across_usernames(bank: Bank) -> None:
    results = [_fail_and_keep(bank, f"guess{i}", addr="192.0.2.7", at=bank.now + timedelta(seconds=i))
               for i in range(21)]
    assert results[:20] == ["refused"] * 20 and results[20] == "throttled"
    assert _try(bank, "agent", PASSWORD, addr="192.0.2.7", at=bank.now + timedelta(minutes=1)) == "throttled"
    assert _try(bank, "agent", PASSWORD, addr="192.0.2.8", at=bank.now + timedelta(minutes=1)) == "ok"
    assert bank.count(LoginAttempt, LoginAttempt.succeeded.is_(False)) == 20


def test_a_success_resets_the_username_count(bank: Bank) -> None:
    for i in range(4):
        _fail_and_keep(bank, "agent", addr="10.0.0.1", at=bank.now + timedelta(seconds=i))
    assert _try(bank, "agent", PASSWORD, at=bank.now + timedelta(seconds=10)) == "ok"
    for i in range(4):
        assert _fail_and_keep(bank, "agent", addr="10.0.0.1", at=bank.now + timedelta(seconds=20 + i)) == "refused"


def test_sessions_end_when_idle_expired_or_deactivated(bank: Bank) -> None:
    cfg = bank.runtime.cfg
    with bank.session() as s:
        token = auth.login(s, username="agent", password=PASSWORD, remote_addr="::1", now=bank.now, cfg=cfg).token
    with bank.session() as s:
        assert auth.current_staff(s, token=token, now=bank.now + timedelta(minutes=30), cfg=cfg) is not None
        assert auth.current_staff(s, token="forged", now=bank.now, cfg=cfg) is None
    with bank.session() as s:  # last seen at +30 min: idle for 61 minutes after that
        assert auth.current_staff(s, token=token, now=bank.now + timedelta(minutes=92), cfg=cfg) is None
    assert bank.count(StaffSession) == 0
    with bank.session() as s:
        token = auth.login(s, username="agent", password=PASSWORD, remote_addr="::1", now=bank.now, cfg=cfg).token
    with bank.session() as s:
        at = bank.now
        for _ in range(14):  # active every 55 minutes (the 14th is past 12 hours): still cut
            at += timedelta(minutes=55)
            alive = auth.current_staff(s, token=token, now=at, cfg=cfg) is not None
        assert not alive
    with bank.session() as s:
        token = auth.login(s, username="agent", password=PASSWORD, remote_addr="::1", now=bank.now, cfg=cfg).token
        staff_service.set_active(s, staff=bank.staff(s, "agent"), active=False, now=bank.now, actor="test")
    with bank.session() as s:
        assert auth.current_staff(s, token=token, now=bank.now, cfg=cfg) is None


def test_hashes_are_upgraded_when_the_costs_rise(bank: Bank) -> None:
    stronger = bank.runtime.cfg.with_overrides({"console.password_hashing.time_cost": 2})
    with bank.session() as s:
        old = bank.staff(s, "agent").password_hash
        auth.login(s, username="agent", password=PASSWORD, remote_addr="::1", now=bank.now, cfg=stronger)
    with bank.session() as s:
        new = bank.staff(s, "agent").password_hash
    assert new != old and ",t=2," in new
    assert auth.verify_password(stronger, new, PASSWORD) and not auth.verify_password(stronger, new, "nope")


def test_admin_cannot_deactivate_themselves(bank: Bank) -> None:
    with pytest.raises(InputError), bank.session() as s:
        me = bank.staff(s, "admin")
        staff_service.set_active(s, staff=me, active=False, now=bank.now, actor="admin", admin=me)
