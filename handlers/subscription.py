"""Follow, unfollow, and branch check-in by scanning the branch's QR code."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import GROUP_COMMANDS, Router, filters
from handlers.types import Inbound, NoReply, Reply, TextReply
from models import VisitSource
from services import visits


def _check_in_text(inbound: Inbound, ctx: HandlerContext, source: VisitSource) -> str | None:
    scene = visits.scene_of(inbound.event, inbound.event_key)
    if scene is None:
        return None
    checked_in = visits.check_in(ctx.session, customer=ctx.customer, code=scene, source=source, now=ctx.now,
                                 cfg=ctx.runtime.cfg)
    if checked_in is None:
        return ctx.text("checkin_unknown_branch")
    return ctx.text("checkin_welcome", branch=checked_in.branch.name)


def on_subscribe(inbound: Inbound, ctx: HandlerContext) -> Reply:
    visits.subscribe(ctx.session, customer=ctx.customer, now=ctx.now)
    welcome = ctx.text("welcome")
    checked_in = _check_in_text(inbound, ctx, VisitSource.SUBSCRIBE)
    return TextReply(welcome if checked_in is None else welcome + "\n\n" + checked_in)


def on_unsubscribe(inbound: Inbound, ctx: HandlerContext) -> Reply:
    ctx.conversation.leave()
    visits.unsubscribe(ctx.session, customer=ctx.customer, now=ctx.now)
    return NoReply()  # WeChat delivers nothing to someone who just unfollowed


def on_scan(inbound: Inbound, ctx: HandlerContext) -> Reply:
    text = _check_in_text(inbound, ctx, VisitSource.SCAN)
    return TextReply(text or ctx.text("checkin_unknown_branch"))


def register(router: Router) -> None:
    router.add(filters.event_type("subscribe"), on_subscribe, group=GROUP_COMMANDS)
    router.add(filters.event_type("unsubscribe"), on_unsubscribe, group=GROUP_COMMANDS)
    router.add(filters.event_type("SCAN"), on_scan, group=GROUP_COMMANDS)
