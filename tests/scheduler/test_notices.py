"""Improvement notices: publish, dispatch (window-aware, retries, permanent failures), progress, menu."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.fake_wechat import CUSTOM_SEND_PATH, TEMPLATE_SEND_PATH
from core.db import transaction
from models import Branch, Customer, NoticeOutbox
from scheduler.jobs import dispatch_notices
from services.improvements import ImprovementError, create_improvement, propose_tickets, publish_improvement
from tests.scheduler.conftest import NOTICE_TEMPLATE, T0, later, make_branch, make_customer, make_ticket


def outbox(rt: Any) -> dict[str, NoticeOutbox]:
    with rt.sessions() as s:
        rows = s.execute(select(NoticeOutbox, Customer.openid).join(Customer)).all()
    return {openid: row for row, openid in rows}


def dispatch(rt: Any, at: Any) -> dict[str, Any]:
    rt.clock.set(at)
    return dispatch_notices(rt, at)


@pytest.fixture
def published(rt: Any) -> dict[str, Any]:
    """An improvement answering two tickets at B001; one more wait_time author, one elsewhere, one APP-only."""
    with transaction(rt.sessions) as s:
        b1, b2 = make_branch(s, "B001"), make_branch(s, "B002", "千佳银行解放路支行")
        inside = make_customer(s, openid="o-window", last_interaction_at=T0)  # window open
        outside = make_customer(s, openid="o-template", last_interaction_at=T0 - timedelta(days=5))
        same_category = make_customer(s, openid="o-category", last_interaction_at=T0 - timedelta(days=3))
        other_branch = make_customer(s, openid="o-elsewhere", last_interaction_at=T0)
        app_only = make_customer(s, openid=None)
        t1 = make_ticket(s, rt, customer=inside, branch_id=b1.id, now=T0 - timedelta(days=2))
        t2 = make_ticket(s, rt, customer=outside, branch_id=b1.id, now=T0 - timedelta(days=6))
        make_ticket(s, rt, customer=same_category, branch_id=b1.id, now=T0 - timedelta(days=10))
        make_ticket(s, rt, customer=other_branch, branch_id=b2.id, now=T0 - timedelta(days=1))
        make_ticket(s, rt, customer=app_only, branch_id=b1.id, now=T0 - timedelta(days=1))
        proposed = propose_tickets(s, category="wait_time", branch_ids=[b1.id], period_start=T0 - timedelta(days=7),
                                   period_end=T0)
        improvement = create_improvement(
            s, title="人民路支行高峰期增开窗口", body="工作日11:30-13:30增开两个对私窗口，并增设大堂经理引导。",
            category="wait_time", branch_ids=[b1.id], effective_date=date(2026, 12, 1), created_by="staff:wang",
            now=T0, ticket_ids=[t1.id, t2.id],
        )
        result = publish_improvement(s, improvement_id=improvement.id, include_category_feedback=True,
                                     period_start=T0 - timedelta(days=30), period_end=T0, now=T0, actor="staff:wang")
    return {"improvement_id": improvement.id, "result": result, "proposed": [t.id for t in proposed],
            "tickets": [t1.id, t2.id]}


def test_publish_queues_one_notice_per_reachable_customer(rt: Any, published: dict[str, Any]) -> None:
    result = published["result"]
    assert (result.added_for_tickets, result.added_for_category, result.total_recipients) == (2, 1, 3)
    assert set(published["proposed"]) >= set(published["tickets"])
    assert {k: v.reason for k, v in outbox(rt).items()} == {
        "o-window": "ticket", "o-template": "ticket", "o-category": "category"}
    with transaction(rt.sessions) as s:
        again = publish_improvement(s, improvement_id=published["improvement_id"], include_category_feedback=True,
                                    period_start=T0 - timedelta(days=30), period_end=T0, now=later(hours=1),
                                    actor="staff:wang")
    assert (again.added_for_tickets, again.added_for_category, again.total_recipients) == (0, 0, 3)
    assert again.published_at == T0


def test_publish_refuses_a_category_send_without_a_period(rt: Any, published: dict[str, Any]) -> None:
    with transaction(rt.sessions) as s, pytest.raises(ImprovementError, match="起止时间"):
        publish_improvement(s, improvement_id=published["improvement_id"], include_category_feedback=True,
                            period_start=None, period_end=None, now=T0, actor="staff:wang")


def test_dispatch_uses_the_window_and_the_template_and_sends_once(rt: Any, published: dict[str, Any],
                                                                 fake_wechat: Any) -> None:
    result = dispatch(rt, later(minutes=1))
    assert (result["claimed"], result["sent"], result["failed"]) == (3, 3, 0)
    custom = fake_wechat.custom_messages("o-window")
    assert len(custom) == 1
    text = custom[0]["text"]["content"]
    assert text.startswith("【服务改进公告】人民路支行高峰期增开窗口") and "2026年12月01日" in text
    template = fake_wechat.template_messages("o-template")
    assert len(template) == 1 and template[0]["template_id"] == NOTICE_TEMPLATE
    assert template[0]["data"]["first"]["value"] == "服务改进通知"
    assert template[0]["data"]["keyword1"]["value"].startswith("QJ")  # the customer's own ticket
    assert len(fake_wechat.template_messages("o-category")) == 1
    assert {k: (v.status, v.channel) for k, v in outbox(rt).items()} == {
        "o-window": ("sent", "custom"), "o-template": ("sent", "template"), "o-category": ("sent", "template")}

    assert dispatch(rt, later(minutes=2))["claimed"] == 0
    assert len(fake_wechat.custom_messages()) + len(fake_wechat.template_messages()) == 3


def test_never_to_an_unsubscribed_customer(rt: Any, published: dict[str, Any], fake_wechat: Any) -> None:
    with transaction(rt.sessions) as s:
        s.scalars(select(Customer).where(Customer.openid == "o-window")).one().subscribed = False
    dispatch(rt, later(minutes=1))
    row = outbox(rt)["o-window"]
    assert (row.status, row.error_code) == ("failed", 43004)
    assert fake_wechat.custom_messages("o-window") == [] and fake_wechat.template_messages("o-window") == []


def test_retryable_errors_back_off_and_permanent_ones_are_recorded(rt: Any, published: dict[str, Any],
                                                                  fake_wechat: Any) -> None:
    fake_wechat.fail_next(CUSTOM_SEND_PATH, -1)  # o-window: system busy, retried later
    fake_wechat.fail_next(TEMPLATE_SEND_PATH, 43004)  # first template recipient: not following
    fake_wechat.fail_next(TEMPLATE_SEND_PATH, 45047)  # second: quota for this user used up
    result = dispatch(rt, later(minutes=1))
    assert (result["retry"], result["failed"], result["sent"]) == (1, 2, 0)
    rows = outbox(rt)
    assert rows["o-window"].status == "pending" and rows["o-window"].next_attempt_at == later(minutes=2)
    failed = {rows[k].error_code: rows[k].error_message for k in ("o-template", "o-category")}
    assert set(failed) == {43004, 45047}
    assert str(failed[43004]).startswith("客户未关注公众号") and str(failed[45047]).startswith("客服消息条数已达上限")

    assert dispatch(rt, later(minutes=1, seconds=30))["claimed"] == 0
    assert dispatch(rt, later(minutes=2))["sent"] == 1
    assert len(fake_wechat.custom_messages("o-window")) == 1
    assert outbox(rt)["o-window"].attempts == 2


def test_daily_quota_pauses_the_rest_of_the_batch(rt: Any, published: dict[str, Any], fake_wechat: Any) -> None:
    fake_wechat.fail_next(CUSTOM_SEND_PATH, 45009)
    result = dispatch(rt, later(minutes=1))
    assert result["retry"] == 1 and result["released"] == 2 and result["sent"] == 0
    assert result["pause_reason"].startswith("接口调用已达今日上限")
    # WeChat's quotas reset at midnight Beijing time: 2026-11-29 00:00 +08:00 = 11-28 16:00 UTC.
    midnight = T0.replace(hour=16)
    assert {r.next_attempt_at for r in outbox(rt).values()} == {midnight}
    assert fake_wechat.template_messages() == []
    assert dispatch(rt, midnight)["sent"] == 3


def test_attempts_run_out(rt: Any, published: dict[str, Any], fake_wechat: Any, sched_config: Any) -> None:
    from services.runtime import build_runtime

    strict = build_runtime(sched_config.with_overrides({"notices.max_attempts": 1}), clock=rt.clock)
    fake_wechat.fail_next(CUSTOM_SEND_PATH, -1)
    dispatch(strict, later(minutes=1))
    row = outbox(rt)["o-window"]
    assert row.status == "failed" and str(row.error_message).startswith("重试1次仍失败：微信系统繁忙")


def test_a_dead_dispatchers_claims_are_taken_over_and_its_in_flight_row_is_not_resent(
        rt: Any, published: dict[str, Any], fake_wechat: Any) -> None:
    with transaction(rt.sessions) as s:
        rows = {openid: row for row, openid in s.execute(select(NoticeOutbox, Customer.openid).join(Customer))}
        rows["o-window"].status, rows["o-window"].attempts = "sending", 1  # the row it was sending
        for row in rows.values():
            row.claim_token, row.claimed_at = "dead-dispatcher", later(minutes=1)
        for openid in ("o-template", "o-category"):
            rows[openid].status = "claimed"
    assert dispatch(rt, later(minutes=2))["claimed"] == 0  # still leased
    result = dispatch(rt, later(minutes=6, seconds=1))  # claim_timeout_seconds: 300
    assert (result["recovered_claims"], result["recovered_sending"], result["sent"]) == (2, 1, 2)
    row = outbox(rt)["o-window"]
    assert row.status == "unknown" and "可能已送达" in str(row.error_message)
    assert fake_wechat.custom_messages("o-window") == []


def test_status_command_shows_progress(rt: Any, published: dict[str, Any], sched_config: Any) -> None:
    from cli.main import cli

    fake_first = dispatch(rt, later(minutes=1))
    assert fake_first["sent"] == 3
    runner = CliRunner()
    result = runner.invoke(cli, ["notices", "status", str(published["improvement_id"])],
                           obj={"config": sched_config})
    assert result.exit_code == 0, result.output
    assert "人民路支行高峰期增开窗口" in result.output and "3/3" in result.output and "100.0%" in result.output
    assert "已发送 3" in result.output
    as_json = runner.invoke(cli, ["notices", "status", "--json"], obj={"config": sched_config})
    assert '"sent": 3' in as_json.output
    missing = runner.invoke(cli, ["notices", "status", "999999"], obj={"config": sched_config})
    assert missing.exit_code != 0 and "找不到" in missing.output


def test_menu_lists_the_customers_notices(rt: Any, published: dict[str, Any]) -> None:
    from bot.app import create_app
    from bot.simulator import flask_transport
    from tests.conftest import wechat_user_for

    app = create_app(runtime=rt)
    transport = flask_transport(app.test_client())
    user = wechat_user_for(rt.cfg, transport, "o-category")
    reply = user.send_event("CLICK", "MENU_IMPROVEMENTS")
    assert reply.text.startswith("服务改进公告（共1条）")
    assert "人民路支行高峰期增开窗口" in reply.text and "2026-11-28" in reply.text
    typed = user.send_text("服务改进公告")
    assert typed.text == reply.text

    # Someone who was not told still sees recently published notices; after menu_recent_days only their own.
    stranger = wechat_user_for(rt.cfg, transport, "o-stranger")
    assert "人民路支行高峰期增开窗口" in stranger.send_text("服务改进公告").text
    rt.clock.set(later(hours=24 * 91))
    assert "暂无服务改进公告" in stranger.send_text("服务改进公告").text
    assert "人民路支行高峰期增开窗口" in user.send_text("服务改进公告").text
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(NoticeOutbox)) == 3  # reading sends nothing


def test_cli_creates_proposes_links_and_publishes(rt: Any, sched_config: Any) -> None:
    from cli.main import cli

    with transaction(rt.sessions) as s:
        make_branch(s, "B001")
        author = make_customer(s, openid="o-cli", last_interaction_at=T0)
        ticket_id = make_ticket(s, rt, customer=author, branch_id=s.scalars(select(Branch.id)).one(),
                                now=T0 - timedelta(days=3)).id
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), obj={"config": sched_config})
        assert result.exit_code == 0, result.output
        return result.output

    created = run("improvements", "create", "--title", "人民路支行延长营业时间", "--body", "周六营业至17:00。",
                  "--category", "wait_time", "--branch", "B001", "--effective", "2026-12-05")
    improvement_id = int(created.split("#")[1].split("：")[0])
    proposed = run("improvements", "propose", str(improvement_id), "--from", "2026-11-20", "--to", "2026-11-28T09:00",
                   "--link")
    assert f"{ticket_id:>8}" in proposed and "已关联 1 件工单" in proposed
    published = run("improvements", "publish", str(improvement_id))
    assert "新增收件人 1" in published and "共 1 人" in published
    assert "0/1" in run("notices", "status", str(improvement_id))
    unknown_branch = runner.invoke(cli, ["improvements", "create", "--title", "x", "--body", "y", "--branch", "B999"],
                                   obj={"config": sched_config})
    assert unknown_branch.exit_code != 0 and "找不到网点代码 B999" in unknown_branch.output


def test_rate_limit_spaces_the_sends() -> None:
    from services.outbox import Pacer

    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(rate=4, monotonic=lambda: clock[0], sleep=sleep)
    for _ in range(9):
        pacer.wait()
    assert slept == [0.25] * 8 and clock[0] == 102.0  # 9 sends in 2 s at 4 a second
    clock[0] += 10  # idle time is not banked as a burst
    pacer.wait()
    pacer.wait()
    assert slept[-1] == 0.25
    unlimited = Pacer(rate=0, monotonic=lambda: clock[0], sleep=sleep)
    unlimited.wait()
    assert len(slept) == 9
