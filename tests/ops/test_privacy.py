"""`qianjia customer export|erase`: everything held, then nothing personal left in any table; audited."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.main import cli
from models import AuditLog, Customer, InboundDedup, Message, Ticket
from nlp import redact
from tests.api.conftest import AppUser, flask_transport, issue_key
from tests.ops.conftest import cli_env
from tests.ops.privacy_support import (
    CARD,
    MOBILE,
    OTHER_MOBILE,
    RESIDENT_ID,
    add_linked_rows,
    converse,
    converse_in_app,
    find_everywhere,
)


def _openid() -> str:
    return f"o{uuid.uuid4().hex[:27]}"


def test_export_then_erase(runtime: Any, wechat_user: Any, db_url: str, model_dir: Path) -> None:
    subject, bystander = _openid(), _openid()
    subject_phrases = converse(wechat_user(subject), "东门")
    bystander_phrases = converse(wechat_user(bystander), "西湖", OTHER_MOBILE)
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        subject_rows = add_linked_rows(session, openid=subject, tag="东门", now=now)
        bystander_rows = add_linked_rows(session, openid=bystander, tag="西湖", now=now, mobile=OTHER_MOBILE)
        # The customer's text quoted somewhere with no foreign key to them (an API response cache).
        session.add(AuditLog(actor="test", action="note", data={"quote": subject_phrases[1], "openid": subject},
                             created_at=now))
    env = cli_env(db_url, model_dir)

    def bystander_messages() -> list[Any]:
        with runtime.sessions() as session:
            owner = select(Customer.id).where(Customer.openid == bystander).scalar_subquery()
            return list(session.execute(select(Message.direction, Message.content)
                                        .where(Message.customer_id == owner).order_by(Message.id)).all())

    bystander_before = bystander_messages()
    with runtime.sessions() as session:
        tickets_before = session.scalar(select(func.count()).select_from(Ticket))
        stored_texts = list(session.scalars(select(Message.content).where(Message.content.contains("东门"))))
    assert stored_texts and all(CARD not in t and RESIDENT_ID not in t for t in stored_texts)  # redacted on the way in

    exported = CliRunner(env=env).invoke(cli, ["customer", "export", subject, "--reason", "DSR-1"])
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    assert data["tables"]["customers"][0]["openid"] == subject
    assert {"tickets", "messages", "ticket_events", "revisits", "offline_feedback", "app_customers",
            "app_feedback", "category_corrections"} <= set(data["tables"])
    assert data["tables"]["tickets"] and data["tables"]["ticket_events"]
    assert all(m["customer_id"] == data["customer_id"] for m in data["tables"]["messages"])
    assert "西湖" not in exported.output  # nobody else's data
    assert data["other_mentions"]["audit_log"][0]["data"]["openid"] == subject

    erased = CliRunner(env=env).invoke(cli, ["customer", "erase", subject, "--yes", "--reason", "DSR-2"])
    assert erased.exit_code == 0, erased.output
    assert "已删除客户" in erased.output

    personal = [subject, *subject_phrases, *subject_rows, redact(MOBILE), MOBILE]
    with runtime.sessions() as session:
        leftovers = find_everywhere(session, personal)
        assert leftovers == [], "\n".join(leftovers)
        # The bystander is untouched; the statistics keep every ticket.
        assert len(find_everywhere(session, [bystander, *bystander_phrases, *bystander_rows, OTHER_MOBILE])) >= 8
        assert session.scalar(select(func.count()).select_from(Ticket)) == tickets_before
        assert session.scalar(select(func.count()).select_from(Customer).where(Customer.openid.is_(None))) == 1
        assert not session.scalars(select(InboundDedup).where(InboundDedup.dedup_key.contains(subject))).all()
        actions = dict(session.execute(select(AuditLog.action, AuditLog.data)
                                       .where(AuditLog.action.like("customer.%"))).all())
    assert bystander_messages() == bystander_before  # shared texts ("[subscribe]", bot replies) untouched
    assert set(actions) == {"customer.export", "customer.erase"}
    assert actions["customer.erase"]["reason"] == "DSR-2" and actions["customer.erase"]["rows"]["messages"] >= 2

    again = CliRunner(env=env).invoke(cli, ["customer", "erase", subject, "--yes"])
    assert again.exit_code == 1 and "未找到" in again.output


def test_erase_asks_first(runtime: Any, wechat_user: Any, db_url: str, model_dir: Path) -> None:
    openid = _openid()
    converse(wechat_user(openid), "北站")
    result = CliRunner(env=cli_env(db_url, model_dir)).invoke(cli, ["customer", "erase", openid], input="n\n")
    assert result.exit_code != 0
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer).where(Customer.openid == openid)) == 1


def test_export_then_erase_an_app_customer(runtime: Any, client: Any, wechat_user: Any, db_url: str,
                                           model_dir: Path) -> None:
    """App customers have no openid: they are named by the app and its own customer id."""
    from models import Staff
    from services import ticket_actions

    key = issue_key(runtime, "ios")  # the default app, "mobile"
    subject, bystander = "app-subject-1", "app-bystander-2"
    number, subject_phrases = converse_in_app(AppUser(flask_transport(client), key, subject), "南湖")
    _, bystander_phrases = converse_in_app(AppUser(flask_transport(client), key, bystander), "北湖", OTHER_MOBILE)
    wechat_openid = _openid()
    wechat_phrases = converse(wechat_user(wechat_openid), "中山", "13600001111")  # on WeChat, untouched too
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        admin = Staff(username="dsr_admin", display_name="管理员", password_hash="x", role="admin", created_at=now)
        session.add(admin)
        session.flush()
        ticket_actions.reply(session, runtime=runtime, staff=admin, number=number, text="您好，已转网点核查。", now=now)
    env = cli_env(db_url, model_dir)
    with runtime.sessions() as session:
        tickets_before = session.scalar(select(func.count()).select_from(Ticket))

    exported = CliRunner(env=env).invoke(cli, ["customer", "export", "--app", "mobile", "--app-user-id", subject])
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    assert [row["app_user_id"] for row in data["tables"]["app_customers"]] == [subject]
    assert [row["contact"] for row in data["tables"]["app_feedback"]] == [MOBILE]
    assert data["tables"]["customers"][0]["openid"] is None
    assert [t["number"] for t in data["tables"]["tickets"]] == [number]
    contents = [m["content"] for m in data["tables"]["messages"]]
    assert any(subject_phrases[0] in c for c in contents) and any(subject_phrases[1] in c for c in contents)
    assert "您好，已转网点核查。" in contents  # the bank's reply on the ticket
    assert "北湖" not in exported.output and bystander not in exported.output and OTHER_MOBILE not in exported.output

    erased = CliRunner(env=env).invoke(cli, ["customer", "erase", "--app-user-id", subject, "--yes",
                                             "--reason", "DSR-APP"])
    assert erased.exit_code == 0, erased.output
    personal = [subject, *subject_phrases, MOBILE, redact(MOBILE), CARD, RESIDENT_ID]
    with runtime.sessions() as session:
        leftovers = find_everywhere(session, personal)
        assert leftovers == [], "\n".join(leftovers)
        kept = find_everywhere(session, [bystander, *bystander_phrases, OTHER_MOBILE, wechat_openid, *wechat_phrases])
        assert {hit.split(":")[0] for hit in kept} >= {"app_customers.app_user_id", "app_feedback.contact",
                                                       "messages.content", "tickets.text",
                                                       "api_idempotency.response_body", "customers.openid"}
        assert session.scalar(select(func.count()).select_from(Ticket)) == tickets_before
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "customer.erase")).one()
    assert audit.data["reason"] == "DSR-APP" and subject not in json.dumps(audit.data)

    again = CliRunner(env=env).invoke(cli, ["customer", "erase", "--app", "mobile", "--app-user-id", subject, "--yes"])
    assert again.exit_code == 1 and "未找到APP mobile 中 ID 为 app-subject-1 的客户" in again.output
    # The same app user writing again is a new customer, with none of the erased history.
    fresh = AppUser(flask_transport(client), key, subject).tickets()
    assert fresh.status == 200 and fresh.json["total"] == 0


@pytest.mark.parametrize("args", [
    [],  # nobody named
    ["oSomeOpenid", "--app-user-id", "u1"],  # two customers named
    ["oSomeOpenid", "--app", "mobile"],  # --app belongs to --app-user-id
])
@pytest.mark.parametrize("command", [["export"], ["erase", "--yes"]])
def test_the_customer_must_be_named_once(command: list[str], args: list[str], db_url: str, model_dir: Path) -> None:
    result = CliRunner(env=cli_env(db_url, model_dir)).invoke(cli, ["customer", *command, *args])
    assert result.exit_code == 2 and "--app" in result.output, result.output
