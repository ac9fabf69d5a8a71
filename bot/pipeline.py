"""Exactly-once processing of one WeChat delivery: dedup, customer, dispatch, stored reply.

Everything happens in one transaction that begins by inserting the dedup record.
A retry (even a concurrent one) collides on the unique key, waits for the first
delivery's transaction to finish, and answers with the reply that delivery stored.
Nothing is acknowledged before it is committed.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.replies import render_reply, reply_text
from core.db import transaction
from handlers.context import HandlerContext
from handlers.router import Router
from handlers.types import Inbound, NewsReply, TextReply
from models import InboundDedup
from nlp import redact
from services import customers, messages
from services.runtime import Runtime

log = logging.getLogger(__name__)


def _inbound_text(inbound: Inbound) -> str:
    if inbound.content:
        return redact(inbound.content)
    if inbound.is_event:
        return f"[{inbound.event or 'event'}] {inbound.event_key or ''}".strip()
    if inbound.location:
        return f"[location] {inbound.label or ''}".strip()
    return f"[{inbound.msg_type}]"


def process_inbound(runtime: Runtime, router: Router, inbound: Inbound) -> tuple[str, bool]:
    """Handle one delivery; return (plaintext reply, was_duplicate)."""
    now = runtime.clock.now()
    try:
        with transaction(runtime.sessions) as session:
            dedup = InboundDedup(dedup_key=inbound.dedup_key, reply_xml="", created_at=now)
            session.add(dedup)
            session.flush()
            customer = customers.get_or_create_customer(session, openid=inbound.openid, now=now)
            customers.touch(customer, now=now)
            message = messages.log_inbound(
                session,
                customer_id=customer.id,
                ticket_id=None,
                msg_type="event" if inbound.is_event else inbound.msg_type,
                content=_inbound_text(inbound),
                now=now,
                wechat_msg_id=inbound.msg_id,
                media_id=inbound.media_id,
            )
            ctx = HandlerContext(session=session, runtime=runtime, now=now, customer=customer, message=message)
            reply = router.dispatch(inbound, ctx)
            xml = render_reply(reply, inbound)
            if isinstance(reply, (TextReply, NewsReply)):
                messages.log_outbound(
                    session,
                    customer_id=customer.id,
                    ticket_id=message.ticket_id or (reply.ticket_id if isinstance(reply, TextReply) else None),
                    msg_type="passive",
                    content=reply_text(reply),
                    now=now,
                )
            dedup.reply_xml = xml
        return xml, False
    except IntegrityError:
        with runtime.sessions() as session:
            stored = session.scalars(
                select(InboundDedup.reply_xml).where(InboundDedup.dedup_key == inbound.dedup_key)
            ).one_or_none()
        if stored is None:
            raise
        log.info("duplicate delivery answered from the dedup record")
        return stored, True
