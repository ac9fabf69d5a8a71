"""The message log: every inbound and outbound message, already redacted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models import Channel, Direction, Message


def log_inbound(
    session: Session,
    *,
    customer_id: int | None,
    ticket_id: int | None,
    msg_type: str,
    content: str,
    now: datetime,
    wechat_msg_id: str | None = None,
    media_id: str | None = None,
    channel: str = Channel.WECHAT.value,
) -> Message:
    message = Message(
        customer_id=customer_id,
        ticket_id=ticket_id,
        direction=Direction.INBOUND.value,
        channel=channel,
        msg_type=msg_type,
        content=content,
        media_id=media_id,
        wechat_msg_id=wechat_msg_id,
        created_at=now,
    )
    session.add(message)
    return message


def log_outbound(
    session: Session,
    *,
    customer_id: int | None,
    ticket_id: int | None,
    msg_type: str,
    content: str,
    now: datetime,
    delivery_status: str = "sent",
    error_code: int | None = None,
    error_message: str | None = None,
    channel: str = Channel.WECHAT.value,
) -> Message:
    message = Message(
        customer_id=customer_id,
        ticket_id=ticket_id,
        direction=Direction.OUTBOUND.value,
        channel=channel,
        msg_type=msg_type,
        content=content,
        delivery_status=delivery_status,
        error_code=error_code,
        error_message=error_message,
        created_at=now,
    )
    session.add(message)
    return message
