"""Last resort: events answer nothing, unknown message types get a polite hint."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import Router, filters
from handlers.types import Inbound, NoReply, Reply, TextReply


def on_event(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return NoReply()


def on_anything_else(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return TextReply(ctx.text("unsupported_message"))


def register(router: Router) -> None:
    router.add(filters.event, on_event, group=100)
    router.add(filters.any, on_anything_else, group=100)
