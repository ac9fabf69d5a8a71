"""Exactly-once processing of one WeChat delivery: dedup, customer, dispatch, stored reply.

Everything happens in one transaction that begins by inserting the dedup record.
A retry (even a concurrent one) collides on the unique key, waits for the first
delivery's transaction to finish, and answers with the reply that delivery stored.
Nothing is acknowledged before it is committed.

The customer's conversation state is loaded and saved in that same transaction.
Slow replies (the classifier still loading after a start) take the slow path: the
handler stores the message (a ticket) and returns a DeferredReply; WeChat gets
`success` once that is committed, and the answer follows as a customer-service
message from a background thread.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.replies import SUCCESS, render_reply, reply_text
from core.db import transaction
from handlers.context import HandlerContext
from handlers.router import Router
from handlers.types import DeferredReply, Inbound, NewsReply, TextReply
from models import Customer, InboundDedup, Ticket
from nlp import redact
from services import customers, messages
from services.conversations import load_conversation, save_conversation
from services.outbound import send_to_customer
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
    analyzer_ready = _analyzer_ready(runtime, inbound)
    deferred: DeferredReply | None = None
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
            conversation = load_conversation(session, customer=customer, now=now)
            ctx = HandlerContext(session=session, runtime=runtime, now=now, customer=customer, message=message,
                                 conversation=conversation, analyzer_ready=analyzer_ready)
            reply = router.dispatch(inbound, ctx)
            save_conversation(session, customer=customer, conversation=conversation, now=now, cfg=runtime.cfg)
            if isinstance(reply, DeferredReply):
                deferred, xml = reply, SUCCESS
            else:
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
            customer_id = customer.id
        if deferred is not None:
            # Only now, with the delivery committed, may the rest happen (and WeChat be answered).
            _submit_followup(runtime, customer_id, deferred)
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


# -- the slow path ------------------------------------------------------------------------------

_warm_lock = threading.Lock()
_warming: dict[int, threading.Event] = {}
_followups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qianjia-followup")
_pending: set[Future[None]] = set()
_pending_lock = threading.Lock()


def _analyzer_ready(runtime: Runtime, inbound: Inbound) -> bool:
    """Whether handlers may classify now; written words wait (before the transaction) for a loading model."""
    if runtime.analyzer_loaded:
        return True
    if inbound.msg_type not in ("text", "voice") or not (inbound.content or "").strip():
        return False
    budget = float(runtime.cfg.get("conversations.passive_reply_budget_seconds", 3))
    return wait_for_analyzer(runtime, timeout=budget)


def wait_for_analyzer(runtime: Runtime, *, timeout: float) -> bool:
    """Start loading the classifier in the background (once) and wait up to `timeout` seconds for it."""
    with _warm_lock:
        if runtime.analyzer_loaded:
            return True
        done = _warming.get(id(runtime))
        if done is None:
            done = threading.Event()
            _warming[id(runtime)] = done
            threading.Thread(target=_load_analyzer, args=(runtime, done), name="qianjia-model-load",
                             daemon=True).start()
    if timeout > 0:
        done.wait(timeout)
        return runtime.analyzer_loaded
    return False


def _load_analyzer(runtime: Runtime, done: threading.Event) -> None:
    try:
        runtime.analyzer  # noqa: B018  (loads, or trains from the shipped corpus, once)
    except Exception:  # the next message tries again
        log.exception("loading the classifier failed")
    finally:
        with _warm_lock:
            _warming.pop(id(runtime), None)
        done.set()


def _submit_followup(runtime: Runtime, customer_id: int, deferred: DeferredReply) -> None:
    future = _followups.submit(_run_followup, runtime, customer_id, deferred)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[None]) -> None:
    with _pending_lock:
        _pending.discard(future)


def _run_followup(runtime: Runtime, customer_id: int, deferred: DeferredReply) -> None:
    """Finish a deferred reply in its own transaction, then send its text as a customer-service message."""
    try:
        # Load the classifier before opening the transaction: loading reads the database too.
        runtime.analyzer  # noqa: B018
        with transaction(runtime.sessions) as session:
            now = runtime.clock.now()
            customer = session.get(Customer, customer_id)
            if customer is None:
                return
            conversation = load_conversation(session, customer=customer, now=now)
            ctx = HandlerContext(session=session, runtime=runtime, now=now, customer=customer,
                                 conversation=conversation)
            text = deferred.finish(ctx)
            save_conversation(session, customer=customer, conversation=conversation, now=now, cfg=runtime.cfg)
            ticket = session.get(Ticket, deferred.ticket_id) if deferred.ticket_id else None
        if text:
            # Sent after the commit, holding no lock while WeChat answers; the attempt is logged after.
            with runtime.sessions() as session:
                send_to_customer(session, messenger=runtime.wechat_api, cfg=runtime.cfg, customer=customer,
                                 text=text, now=now, tz=runtime.tz, ticket=ticket)
                session.commit()
    except Exception:  # the stored ticket stays in manual triage: nothing is lost
        log.exception("deferred reply failed")


def wait_for_followups(timeout: float | None = None) -> bool:
    """Wait until every deferred reply started so far has finished (tests, graceful shutdown)."""
    with _pending_lock:
        pending = list(_pending)
    _done, not_done = wait_futures(pending, timeout=timeout)
    return not not_done
