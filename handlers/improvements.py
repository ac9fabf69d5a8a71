"""The 服务改进公告 menu: the improvement notices a customer was sent, and recent ones."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import GROUP_MENU, Router, filters
from handlers.types import Inbound, Reply, TextReply
from services.menu import MENU_IMPROVEMENTS
from services.notices import notices_for_customer

# WeChat cuts passive text replies at 2,048 bytes; stay below it.
MAX_REPLY_BYTES = 2000
ITEM_BODY_CHARS = 120


def on_improvements(inbound: Inbound, ctx: HandlerContext) -> Reply:
    notices_cfg = ctx.runtime.cfg.section("notices")
    notices = notices_for_customer(
        ctx.session,
        customer_id=ctx.customer.id,
        now=ctx.now,
        limit=int(notices_cfg.get("menu_limit", 3)),
        recent_days=int(notices_cfg.get("menu_recent_days", 90)),
    )
    if not notices:
        return TextReply(ctx.text("improvements_menu_empty"))
    tz = ctx.runtime.tz
    items: list[str] = []
    for index, improvement in enumerate(notices, start=1):
        body = improvement.body
        if len(body) > ITEM_BODY_CHARS:
            body = body[:ITEM_BODY_CHARS] + "…"
        published = improvement.published_at.astimezone(tz) if improvement.published_at else ctx.now
        item = ctx.text("improvements_menu_item", index=index, title=improvement.title, body=body,
                        date=f"{published:%Y-%m-%d}")
        if len("\n\n".join(["x" * 40, *items, item]).encode("utf-8")) > MAX_REPLY_BYTES:
            break
        items.append(item)
    return TextReply("\n\n".join([ctx.text("improvements_menu_header", count=len(items)), *items]))


def register(router: Router) -> None:
    # The CLICK, or the words config.yaml's menu gives this action (服务改进公告, 改进公告).
    router.add(filters.menu_action(MENU_IMPROVEMENTS), on_improvements, group=GROUP_MENU)
