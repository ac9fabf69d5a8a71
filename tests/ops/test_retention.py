"""Retention: old texts anonymised (open tickets kept), long-unsubscribed customers purged, old dedup
records, expired API Idempotency-Keys and finished rate-limit windows deleted; the dry run counts exactly
what the run then does; a second run changes nothing."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select, update

from bot.app import create_app
from bot.simulator import flask_transport
from cli.main import cli
from core.clock import FixedClock
from models import (
    AuditLog,
    Customer,
    IdempotencyRecord,
    InboundDedup,
    Message,
    RateCounter,
    Ticket,
    TicketStatus,
)
from services.privacy import ANONYMISED
from services.runtime import build_runtime
from tests.api.conftest import AppUser, issue_key
from tests.api.conftest import flask_transport as api_transport
from tests.conftest import wechat_user_for
from tests.ops.conftest import cli_env
from tests.ops.privacy_support import converse, find_everywhere

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _conversation_at(config: Any, moment: datetime, tag: str) -> tuple[str, list[str]]:
    runtime = build_runtime(config, clock=FixedClock(moment))
    app = create_app(runtime=runtime)
    openid = f"o{uuid.uuid4().hex[:27]}"
    phrases = converse(wechat_user_for(config, flask_transport(app.test_client()), openid), tag)
    return openid, phrases


def _counts(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+)：(.+)$", output, flags=re.MULTILINE))


def test_retention_policy(config: Any, runtime: Any, db_url: str, model_dir: Path) -> None:
    old = NOW - timedelta(days=800)  # beyond 24 months
    old_closed, old_closed_texts = _conversation_at(config, old, "老城")
    old_open, old_open_texts = _conversation_at(config, old, "江北")
    recent, recent_texts = _conversation_at(config, NOW - timedelta(days=30), "新区")
    gone, gone_texts = _conversation_at(config, NOW - timedelta(days=400), "河西")
    fresh_dedup = _conversation_at(config, NOW - timedelta(hours=1), "高新")[0]
    with runtime.sessions.begin() as session:
        ids = {o: session.scalar(select(Customer.id).where(Customer.openid == o)) for o in (old_closed, old_open, gone)}
        session.execute(update(Ticket).where(Ticket.customer_id == ids[old_closed])
                        .values(status=TicketStatus.CLOSED.value))
        session.execute(update(Customer).where(Customer.id == ids[gone])
                        .values(subscribed=False, unsubscribed_at=NOW - timedelta(days=200)))
        dedup_total = session.scalar(select(func.count()).select_from(InboundDedup))

    env = cli_env(db_url, model_dir)
    dry = CliRunner(env=env).invoke(cli, ["retention", "run", "--dry-run", "--now", NOW.isoformat()])
    assert dry.exit_code == 0, dry.output
    assert "试运行" in dry.output
    planned = _counts(dry.output)
    assert planned["customers"] == "清除客户 1 行"
    assert planned["inbound_dedup"] == f"删除 {dedup_total - 3} 行"  # all but the last hour's 3 deliveries
    with runtime.sessions() as session:  # nothing changed yet
        assert not session.scalars(select(Message).where(Message.content == ANONYMISED)).all()

    run = CliRunner(env=env).invoke(cli, ["retention", "run", "--now", NOW.isoformat()])
    assert run.exit_code == 0, run.output
    done = _counts(run.output)
    # Anonymisation counts match the dry run (the purge's own erasures come on top of them).
    for table in ("tickets", "messages", "inbound_dedup", "customers"):
        assert done[table].startswith(planned[table]), (table, planned, done)

    with runtime.sessions() as session:
        assert find_everywhere(session, old_closed_texts + gone_texts + [gone]) == []
        assert len(find_everywhere(session, recent_texts)) >= 2, "recent texts are kept"
        assert len(find_everywhere(session, old_open_texts)) >= 2, "an open ticket keeps its words"
        assert session.scalar(select(Customer.openid).where(Customer.id == ids[gone])) is None
        assert session.scalar(select(Customer.openid).where(Customer.id == ids[old_closed])) == old_closed
        assert {row for row in session.scalars(select(InboundDedup.dedup_key))} and all(
            fresh_dedup in key for key in session.scalars(select(InboundDedup.dedup_key)))
        actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["customer.purge", "retention.run"]

    again = CliRunner(env=env).invoke(cli, ["retention", "run", "--now", NOW.isoformat()])
    assert again.exit_code == 0 and "没有需要处理的数据" in again.output, again.output


def test_bad_now_is_refused(config: Any, db_url: str, model_dir: Path) -> None:
    result = CliRunner(env=cli_env(db_url, model_dir)).invoke(cli, ["retention", "run", "--now", "2026-11-20"])
    assert result.exit_code == 2 and "时区" in result.output


def test_the_daily_job_forgets_expired_idempotency_keys_and_finished_rate_windows(
        config: Any, runtime: Any, db_url: str, model_dir: Path) -> None:
    clock = FixedClock(NOW - timedelta(hours=25))
    app = create_app(runtime=build_runtime(config, clock=clock))
    client = app.test_client()
    keys = {name: issue_key(runtime, name) for name in ("old", "recent", "now")}

    def user(name: str) -> AppUser:
        return AppUser(api_transport(client), keys[name], "alice", clock)

    old = [user("old").submit(f"人民路支行排队太久，第{i}次反馈", idempotency_key=f"old-{i}") for i in (1, 2)]
    assert [r.status for r in old] == [201, 201]
    clock.set(NOW - timedelta(minutes=10))
    assert user("recent").submit("城东营业部空调坏了", client_id="c-recent", idempotency_key="recent-1").status == 201
    clock.set(NOW)
    assert user("now").tickets().status == 200
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 3
        assert session.scalar(select(func.count()).select_from(RateCounter)) == 3  # one minute per key

    env = cli_env(db_url, model_dir)
    dry = CliRunner(env=env).invoke(cli, ["retention", "run", "--dry-run", "--now", NOW.isoformat()])
    assert dry.exit_code == 0, dry.output
    planned = _counts(dry.output)
    assert planned["api_idempotency"] == "删除 2 行"  # older than api.idempotency_retention_hours (24)
    assert planned["api_rate_counters"] == "删除 2 行"  # every window but the current one

    job = CliRunner(env=env).invoke(cli, ["jobs", "run", "retention", "--now", NOW.isoformat()])
    assert job.exit_code == 0, job.output
    done = json.loads(job.output)["result"]
    assert done["api_idempotency"] == {"deleted": 2} and done["api_rate_counters"] == {"deleted": 2}
    with runtime.sessions() as session:
        assert set(session.scalars(select(IdempotencyRecord.key))) == {"recent-1"}
        assert list(session.scalars(select(RateCounter.api_client_id))) == [keys["now"].client.id]
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3  # the feedback itself stays
    # A retry within the retention still gets the first answer.
    clock.set(NOW)
    again = user("recent").submit("城东营业部空调坏了", client_id="c-recent", idempotency_key="recent-1")
    assert again.headers.get("Idempotent-Replayed") == "true"

    rerun = CliRunner(env=env).invoke(cli, ["retention", "run", "--now", NOW.isoformat()])
    assert rerun.exit_code == 0 and "没有需要处理的数据" in rerun.output, rerun.output
