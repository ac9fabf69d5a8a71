"""Sending improvement notices (服务改进公告) to customers, exactly once, and reporting progress.

Crash safety (see services/outbox.py): a row is committed as `sending` before its HTTP call,
together with the previous row's outcome. WeChat has no idempotency key for customer-service
messages, so a row found still `sending` after its dispatcher died may have been delivered:
it is marked `unknown` and never resent. That is at most one row per dispatcher per crash;
every other row is either sent once or still pending. Network errors after the request went
out (a read timeout, a dropped connection) are `unknown` for the same reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models import Customer, Improvement, ImprovementTicket, NoticeOutbox, OutboxStatus, Ticket
from services.outbound import Delivery, send_to_customer
from services.outbox import DispatchStats, Pacer, PauseDispatch, backoff, dispatch

if TYPE_CHECKING:
    from bot.wechat_api import Messenger
    from services.runtime import Runtime

NOTICE_TITLE = "服务改进通知"

# Why WeChat refused, in words staff understand (the errmsg follows in brackets).
ERROR_REASONS = {
    -1: "微信系统繁忙或网络错误",
    43004: "客户未关注公众号",
    45009: "接口调用已达今日上限",
    45011: "接口调用过于频繁",
    45015: "已超出客服消息时限",
    45047: "客服消息条数已达上限",
    48001: "公众号没有该接口权限",
}
QUOTA_CODES = frozenset({45009, 45011})

STALE_SENDING = {
    "status": OutboxStatus.UNKNOWN.value,
    "error_message": "发送过程中程序中断，可能已送达；为避免重复，不再重发",
}


@dataclass(frozen=True)
class NoticeSettings:
    rate_per_second: float
    batch_size: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    claim_timeout: timedelta
    max_seconds_per_run: float

    @classmethod
    def from_config(cls, cfg: Any) -> NoticeSettings:
        section = cfg.section("notices")
        return cls(
            rate_per_second=float(section.get("rate_per_second", 20)),
            batch_size=max(1, int(section.get("batch_size", 100))),
            max_attempts=max(1, int(section.get("max_attempts", 6))),
            retry_base_seconds=float(section.get("retry_base_seconds", 60)),
            retry_max_seconds=float(section.get("retry_max_seconds", 3600)),
            claim_timeout=timedelta(seconds=float(section.get("claim_timeout_seconds", 300))),
            max_seconds_per_run=float(section.get("max_seconds_per_run", 50)),
        )


def notice_text(runtime: Runtime, improvement: Improvement) -> str:
    effective = ""
    if improvement.effective_date is not None:
        effective = runtime.texts.render("improvement_notice_effective",
                                         date=f"{improvement.effective_date:%Y年%m月%d日}")
    return runtime.texts.render("improvement_notice", title=improvement.title, body=improvement.body,
                                effective=effective)


def _possibly_delivered(delivery: Delivery) -> bool:
    """The request may have reached WeChat and only the answer was lost (see bot.wechat_api._network_error)."""
    message = delivery.error_message or ""
    return delivery.error_code == -1 and (
        message.startswith("timeout: ReadTimeout") or "RemoteDisconnected" in message
        or "Connection aborted" in message
    )


def _reason(delivery: Delivery) -> str:
    reason = ERROR_REASONS.get(delivery.error_code or 0, "")
    detail = delivery.error_message or ""
    text = f"{reason}（{detail}）" if reason and detail else (reason or detail or "发送失败")
    return text[:255]


@dataclass
class _NoticeSender:
    runtime: Runtime
    messenger: Messenger
    settings: NoticeSettings
    _improvements: dict[int, tuple[Improvement, str]] = field(default_factory=dict)

    def _improvement(self, session: Session, improvement_id: int) -> tuple[Improvement, str]:
        cached = self._improvements.get(improvement_id)
        if cached is None:
            improvement = session.get(Improvement, improvement_id)
            assert improvement is not None
            cached = self._improvements[improvement_id] = (improvement, notice_text(self.runtime, improvement))
        return cached

    def prepare(self, session: Session, row: NoticeOutbox, now: datetime) -> tuple[Customer, str, Ticket | None]:
        # Re-read the customer: an unsubscribe since the claim must stop the send.
        customer = session.get(Customer, row.customer_id, populate_existing=True)
        assert customer is not None
        _, text = self._improvement(session, row.improvement_id)
        ticket = None
        if row.reason == "ticket":
            ticket = session.scalars(
                select(Ticket)
                .join(ImprovementTicket, ImprovementTicket.ticket_id == Ticket.id)
                .where(ImprovementTicket.improvement_id == row.improvement_id, Ticket.customer_id == customer.id)
                .order_by(Ticket.id.desc())
                .limit(1)
            ).first()
        return customer, text, ticket

    def send(self, session: Session, row: NoticeOutbox, prepared: tuple[Customer, str, Ticket | None],
             now: datetime) -> str:
        customer, text, ticket = prepared
        delivery = send_to_customer(
            session, messenger=self.messenger, cfg=self.runtime.cfg, customer=customer, text=text, now=now,
            tz=self.runtime.tz, ticket=ticket, title=NOTICE_TITLE, template_key="improvement_notice",
        )
        row.channel = delivery.channel
        row.error_code = delivery.error_code
        if delivery.ok:
            row.status, row.sent_at, row.error_message = OutboxStatus.SENT.value, now, None
        elif delivery.status == "failed":
            row.status, row.error_message = OutboxStatus.FAILED.value, _reason(delivery)
        elif _possibly_delivered(delivery):
            row.status = OutboxStatus.UNKNOWN.value
            row.error_message = f"网络中断，可能已送达；为避免重复，不再重发（{delivery.error_message}）"[:255]
        elif row.attempts >= self.settings.max_attempts:
            row.status = OutboxStatus.FAILED.value
            row.error_message = f"重试{row.attempts}次仍失败：{_reason(delivery)}"[:255]
        else:
            row.status, row.error_message = OutboxStatus.PENDING.value, _reason(delivery)
            row.claim_token, row.claimed_at = None, None
            row.next_attempt_at = now + backoff(
                attempts=row.attempts, base_seconds=self.settings.retry_base_seconds,
                max_seconds=self.settings.retry_max_seconds, hint_seconds=delivery.retry_after_seconds,
            )
            if delivery.error_code in QUOTA_CODES:
                # Every further call would hit the same limit: hand the rest of the batch back.
                raise PauseDispatch(row.next_attempt_at, _reason(delivery))
        return row.status


def dispatch_notices(
    *,
    runtime: Runtime,
    messenger: Messenger | None = None,
    max_rows: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DispatchStats:
    """Send due notices until none is due (or the run's time budget is spent)."""
    settings = NoticeSettings.from_config(runtime.cfg)
    return dispatch(
        sessions=runtime.sessions,
        model=NoticeOutbox,
        clock=runtime.clock,
        handle=_NoticeSender(runtime, messenger or runtime.wechat_api, settings),
        batch_size=settings.batch_size,
        claim_timeout=settings.claim_timeout,
        stale_sending_values=STALE_SENDING,
        pacer=Pacer(settings.rate_per_second, sleep=sleep),
        max_seconds=settings.max_seconds_per_run,
        max_rows=max_rows,
    )


@dataclass(frozen=True)
class NoticeProgress:
    improvement_id: int
    title: str
    published_at: datetime | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Settled rows: sent, failed or unknown (no longer waiting)."""
        return sum(self.counts.get(s.value, 0) for s in (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.UNKNOWN))

    @property
    def waiting(self) -> int:
        return self.total - self.done


def notice_progress(session: Session, *, improvement_id: int | None = None, limit: int = 20) -> list[NoticeProgress]:
    """Per published improvement: how many notices are sent, failed, unknown, pending (newest first)."""
    improvements = select(Improvement).where(Improvement.published_at.is_not(None))
    if improvement_id is not None:
        improvements = select(Improvement).where(Improvement.id == improvement_id)
    chosen = list(session.scalars(improvements.order_by(Improvement.published_at.desc(), Improvement.id.desc())
                                  .limit(limit)))
    if not chosen:
        return []
    counts: dict[int, dict[str, int]] = {i.id: {} for i in chosen}
    rows = session.execute(
        select(NoticeOutbox.improvement_id, NoticeOutbox.status, func.count())
        .where(NoticeOutbox.improvement_id.in_(list(counts)))
        .group_by(NoticeOutbox.improvement_id, NoticeOutbox.status)
    )
    for imp_id, status, n in rows:
        counts[imp_id][status] = int(n)
    return [NoticeProgress(i.id, i.title, i.published_at, counts[i.id]) for i in chosen]


def notices_for_customer(session: Session, *, customer_id: int, now: datetime, limit: int,
                         recent_days: int) -> list[Improvement]:
    """Published improvements this customer was told about, or published recently; newest first."""
    told = select(NoticeOutbox.improvement_id).where(NoticeOutbox.customer_id == customer_id)
    return list(session.scalars(
        select(Improvement)
        .where(Improvement.published_at.is_not(None), Improvement.published_at <= now,
               or_(Improvement.id.in_(told), Improvement.published_at >= now - timedelta(days=recent_days)))
        .order_by(Improvement.published_at.desc(), Improvement.id.desc())
        .limit(limit)
    ))
