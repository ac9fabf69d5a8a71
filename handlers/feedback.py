"""Free text from a customer becomes a numbered feedback ticket."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import Router, filters
from handlers.types import Inbound, Reply, TextReply
from models import Channel, Priority
from services.classify import classify
from services.sla import policy_hours
from services.tickets import submit_feedback


def on_text(inbound: Inbound, ctx: HandlerContext) -> Reply:
    text = (inbound.content or "").strip()
    if not text:
        return TextReply(ctx.text("empty_text"))
    classification = classify(ctx.session, runtime=ctx.runtime, text=text)
    ticket = submit_feedback(
        ctx.session,
        customer=ctx.customer,
        channel=Channel.WECHAT,
        classification=classification,
        now=ctx.now,
        cfg=ctx.runtime.cfg,
        msg_type=inbound.msg_type,
        wechat_msg_id=inbound.msg_id,
        message=ctx.message,
    )
    urgent_note = ""
    if ticket.priority == Priority.URGENT.value:
        hours, _ = policy_hours(ctx.runtime.cfg.section("sla"), ticket.priority)
        urgent_note = ctx.text("ticket_created_urgent_note", hours=f"{hours:g}")
    return TextReply(ctx.text("ticket_created", number=ticket.number, urgent_note=urgent_note), ticket_id=ticket.id)


def register(router: Router) -> None:
    router.add(filters.text, on_text, group=90)
