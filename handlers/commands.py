"""Words that work anywhere: 取消/退出 leaves whatever flow the customer is in; 帮助 explains the bot."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import GROUP_COMMANDS, Router, filters
from handlers.types import Inbound, Reply, TextReply

CANCEL = filters.regex(r"(取消|退出|结束|不填了)[。.!！]?")
HELP = filters.regex(r"(帮助|help|HELP|\?|？|你好|您好)[。.!！]?")


def flow_name(ctx: HandlerContext, flow: str | None) -> str:
    return ctx.text(f"flow_name_{flow}") if flow else ""


def on_cancel(inbound: Inbound, ctx: HandlerContext) -> Reply:
    flow = ctx.flow
    if flow is None:
        return TextReply(ctx.text("nothing_to_cancel"))
    ctx.conversation.leave()
    return TextReply(ctx.text("flow_cancelled", flow=flow_name(ctx, flow)))


def on_help(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return TextReply(ctx.text("help"))


def register(router: Router) -> None:
    router.add(CANCEL, on_cancel, group=GROUP_COMMANDS)
    router.add(HELP & ~filters.in_flow("survey"), on_help, group=GROUP_COMMANDS)
