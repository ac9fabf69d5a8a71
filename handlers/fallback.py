"""Last resort: menu actions nobody handles yet, events that need no answer, unknown message types."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import GROUP_FALLBACK, GROUP_MENU_FALLBACK, Router, filters
from handlers.types import Inbound, NoReply, Reply, TextReply


def on_unhandled_menu_action(inbound: Inbound, ctx: HandlerContext) -> Reply:
    # A menu item whose module is not installed must not become a ticket reading "服务改进公告".
    return TextReply(ctx.text("menu_unavailable"))


def on_event(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return NoReply()


def on_anything_else(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return TextReply(ctx.text("unsupported_message"))


def register(router: Router) -> None:
    router.add(filters.menu_action(), on_unhandled_menu_action, group=GROUP_MENU_FALLBACK)
    router.add(filters.event, on_event, group=GROUP_FALLBACK)
    router.add(filters.any, on_anything_else, group=GROUP_FALLBACK)
