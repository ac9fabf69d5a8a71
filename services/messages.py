"""The message log: every inbound and outbound message, already redacted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import Channel, Direction, Message


def _log(session: Session, *, direction: Direction, now: datetime, **fields: Any) -> Message:
    message = Message(direction=direction.value, created_at=now, **fields)
    session.add(message)
    return message


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
    """A message from the customer."""
    return _log(session, direction=Direction.INBOUND, now=now, customer_id=customer_id, ticket_id=ticket_id,
                msg_type=msg_type, content=content, channel=channel, wechat_msg_id=wechat_msg_id, media_id=media_id)


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
    """A message to the customer, with what happened to it."""
    return _log(session, direction=Direction.OUTBOUND, now=now, customer_id=customer_id, ticket_id=ticket_id,
                msg_type=msg_type, content=content, channel=channel, delivery_status=delivery_status,
                error_code=error_code, error_message=error_message)
