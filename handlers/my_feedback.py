"""我的反馈: the customer's own tickets; 查询 <工单号> shows one of them."""

from __future__ import annotations

import re

from handlers.context import HandlerContext
from handlers.router import GROUP_MENU, Router, filters
from handlers.types import Inbound, Reply, TextReply
from services import my_feedback
from services.menu import MENU_MY_FEEDBACK

QUERY = re.compile(r"(?:查询|查|工单)\s*[:：]?\s*(?P<number>[A-Za-z]{1,8}\s*\d{6}\s*[-－—]\s*\d{1,10})")
BARE_NUMBER = re.compile(r"(?P<number>[A-Za-z]{1,8}\d{6}-\d{1,10})")
REPLY_PREVIEW_CHARS = 60


def _fields(ctx: HandlerContext, view: my_feedback.TicketView) -> dict[str, str]:
    cfg = ctx.runtime.cfg
    category = cfg.get(f"labels.categories.{view.category}") if view.category else None
    return {
        "number": view.number,
        "status": ctx.text(f"status_{view.status}"),
        "category": str(category or ctx.text("category_unknown")),
        "time": view.created_at.astimezone(ctx.runtime.tz).strftime("%Y-%m-%d %H:%M"),
    }


def _preview(text: str) -> str:
    return text if len(text) <= REPLY_PREVIEW_CHARS else text[:REPLY_PREVIEW_CHARS] + "…"


def on_list(inbound: Inbound, ctx: HandlerContext) -> Reply:
    limit = int(ctx.runtime.cfg.get("conversations.my_feedback_limit", 5))
    views = my_feedback.customer_tickets(ctx.session, customer_id=ctx.customer.id, limit=limit)
    if not views:
        return TextReply(ctx.text("my_feedback_empty"))
    items = []
    for index, view in enumerate(views, 1):
        reply = _preview(view.team_reply) if view.team_reply else ctx.text("my_feedback_no_reply")
        items.append(ctx.text("my_feedback_item", index=index, reply=reply, **_fields(ctx, view)))
    return TextReply(ctx.text("my_feedback_header", count=len(views)) + "\n" + "\n".join(items) + "\n"
                     + ctx.text("my_feedback_footer"))


def on_query(inbound: Inbound, ctx: HandlerContext) -> Reply:
    text = (inbound.content or "").strip()
    match = QUERY.fullmatch(text) or BARE_NUMBER.fullmatch(text)
    number = my_feedback.normalize_number(match.group("number")) if match else ""
    view = my_feedback.customer_ticket(ctx.session, customer_id=ctx.customer.id, number=number)
    if view is None:
        return TextReply(ctx.text("my_feedback_not_found", number=number))
    reply = view.team_reply or ctx.text("my_feedback_no_reply")
    return TextReply(ctx.text("my_feedback_detail", text=view.text, reply=reply, **_fields(ctx, view)))


def register(router: Router) -> None:
    router.add(filters.menu_action(MENU_MY_FEEDBACK), on_list, group=GROUP_MENU)
    router.add(filters.regex(QUERY.pattern) | filters.regex(BARE_NUMBER.pattern), on_query, group=GROUP_MENU)
