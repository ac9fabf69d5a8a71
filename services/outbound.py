"""Messages to a customer outside the passive reply: customer-service message inside
the 48-hour window, otherwise a template message; for app tickets, a message the app shows
on the ticket. Every attempt is logged with its outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from models import Channel, Customer, Message, Ticket
from services import messages as message_log
from services.customers import in_service_window

if TYPE_CHECKING:
    from bot.wechat_api import Messenger

log = logging.getLogger(__name__)

# Permanent failures for this message (DOMAIN.md): not following, outside the window, quota used up.
PERMANENT_CODES = frozenset({43004, 45015, 45047, 48001})


@dataclass(frozen=True)
class Delivery:
    """What happened to one outbound message."""

    status: str  # sent | failed | retry
    channel: str  # custom | template | app | none
    error_code: int | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None
    message_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "sent"

    def describe(self) -> str:
        """A line for staff, in Chinese."""
        if self.channel == "app":
            return "已发送到APP"  # stored is delivered: the app reads it with the ticket
        via = {"custom": "客服消息", "template": "模板消息"}.get(self.channel, "未发送")
        if self.ok:
            return f"已通过{via}送达"
        if self.status == "retry":
            return f"{via}暂时发送失败（错误码 {self.error_code}），稍后重试"
        return f"{via}发送失败：{self.error_message or ''}（错误码 {self.error_code}）"


def reply_channel(ticket: Ticket, customer: Customer | None) -> Channel | None:
    """How a staff reply reaches this ticket's customer: in the app, on WeChat, or not at all (None)."""
    if customer is None:
        return None
    if ticket.channel == Channel.APP.value:
        return Channel.APP
    return Channel.WECHAT if customer.openid else None


def post_to_app(session: Session, *, customer: Customer, ticket: Ticket, text: str, now: datetime) -> Delivery:
    """A reply on an app ticket: logged on the ticket, where the app reads it (GET /api/v1/tickets/{number})."""
    message = message_log.log_outbound(session, customer_id=customer.id, ticket_id=ticket.id, msg_type="text",
                                       content=text, now=now, delivery_status="sent", channel=Channel.APP.value)
    session.flush()
    return Delivery(status="sent", channel="app", message_id=message.id)


def template_payload(*, title: str, text: str, ticket: Ticket | None, now: datetime, tz: Any) -> dict[str, str]:
    return {
        "first": title,
        "keyword1": ticket.number if ticket and ticket.number else "—",
        "keyword2": now.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "remark": text,
    }


def send_to_customer(
    session: Session,
    *,
    messenger: Messenger,
    cfg: Any,
    customer: Customer,
    text: str,
    now: datetime,
    tz: Any,
    ticket: Ticket | None = None,
    title: str = "服务进度通知",
    template_key: str = "service_update",
) -> Delivery:
    """Send `text` by the channel WeChat allows right now and log the attempt."""
    from bot.wechat_api import WeChatAPIError

    if not customer.openid:
        return Delivery(status="failed", channel="none", error_message="客户没有微信 openid")
    if not customer.subscribed:
        delivery = Delivery(status="failed", channel="none", error_code=43004, error_message="客户已取消关注")
        _log(session, customer=customer, ticket=ticket, text=text, now=now, delivery=delivery)
        return delivery
    channel = "custom" if in_service_window(customer, now=now) else "template"
    try:
        if channel == "custom":
            messenger.send_text(openid=customer.openid, content=text)
        else:
            template_id = str(cfg.get(f"wechat.templates.{template_key}", "") or "")
            if not template_id:
                delivery = Delivery(status="failed", channel="template",
                                    error_message=f"未配置模板消息 wechat.templates.{template_key}")
                _log(session, customer=customer, ticket=ticket, text=text, now=now, delivery=delivery)
                return delivery
            messenger.send_template(openid=customer.openid, template_id=template_id,
                                    data=template_payload(title=title, text=text, ticket=ticket, now=now, tz=tz))
        delivery = Delivery(status="sent", channel=channel)
    except WeChatAPIError as exc:
        log.warning("outbound %s message failed: %s", channel, exc.errcode)
        status = "retry" if exc.retryable and exc.errcode not in PERMANENT_CODES else "failed"
        delivery = Delivery(status=status, channel=channel, error_code=exc.errcode, error_message=exc.errmsg[:200],
                            retry_after_seconds=exc.retry_after_seconds)
    message = _log(session, customer=customer, ticket=ticket, text=text, now=now, delivery=delivery)
    return Delivery(**{**delivery.__dict__, "message_id": message.id})


def _log(session: Session, *, customer: Customer, ticket: Ticket | None, text: str, now: datetime,
         delivery: Delivery) -> Message:
    message = message_log.log_outbound(
        session,
        customer_id=customer.id,
        ticket_id=ticket.id if ticket else None,
        msg_type=delivery.channel,
        content=text,
        now=now,
        delivery_status=delivery.status,
        error_code=delivery.error_code,
        error_message=delivery.error_message,
    )
    session.flush()
    return message
