"""The customer's score after a ticket was resolved (asked by services.surveys.request_resolution_check)."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import GROUP_ANSWERS, Filter, Router, filters
from handlers.types import Inbound, Reply, TextReply
from services import surveys

LOW, HIGH = 1, 5


def _pending(inbound: Inbound, ctx: HandlerContext) -> bool:
    if ctx.flow is not None or surveys.parse_score(inbound.content, LOW, HIGH) is None:
        return False
    return surveys.pending_resolution_check(ctx.session, customer_id=ctx.customer.id, now=ctx.now,
                                            cfg=ctx.runtime.cfg) is not None


def on_score(inbound: Inbound, ctx: HandlerContext) -> Reply:
    check = surveys.pending_resolution_check(ctx.session, customer_id=ctx.customer.id, now=ctx.now,
                                             cfg=ctx.runtime.cfg)
    assert check is not None  # the filter found it in this same transaction
    score = surveys.parse_score(inbound.content, LOW, HIGH) or LOW
    if ctx.message is not None:
        ctx.message.ticket_id = check.ticket_id
    reply = surveys.answer_resolution_check(ctx.session, runtime=ctx.runtime, check=check, score=score, now=ctx.now)
    return TextReply(reply, ticket_id=check.ticket_id)


def register(router: Router) -> None:
    router.add(filters.has_text & Filter(_pending, "resolution_check_score"), on_score, group=GROUP_ANSWERS)
