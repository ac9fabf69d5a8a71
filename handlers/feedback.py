"""Complaints and suggestions: from the menu or by just writing.

A new message becomes a numbered ticket at once (stored before anything is asked). If the
branch is unknown (none named, no check-in), the bot then asks which branch, offering the
nearest matches; the customer may skip. Messages written soon after, while the ticket is
open, are added to it. Pictures, voice, video and locations attach to the open ticket or
start one.
"""

from __future__ import annotations

from functools import partial

from handlers.context import HandlerContext
from handlers.router import GROUP_FLOW, GROUP_FREE_TEXT, GROUP_MEDIA, GROUP_MENU, Router, filters
from handlers.types import DeferredReply, Inbound, Reply, TextReply
from models import Branch, Channel, Priority, Ticket
from services import intake
from services.classify import classify
from services.menu import MENU_COMPLAINT, MENU_SUGGESTION, action_for_text
from services.sla import policy_hours
from services.surveys import SKIP_WORDS, parse_score
from services.tickets import Classification, submit_feedback

FLOW = "feedback"
STEP_COMPOSE = "compose"  # the customer chose 我要投诉/我要建议 and is about to write
STEP_BRANCH = "branch"  # the bot asked which branch the new ticket is about
KINDS = {MENU_COMPLAINT: "complaint", MENU_SUGGESTION: "suggestion"}
# An answer to "which branch?" this long that names none is more detail for the ticket.
DETAIL_MIN_CHARS = 15


def on_menu(inbound: Inbound, ctx: HandlerContext) -> Reply:
    key = inbound.event_key if inbound.is_event else action_for_text(ctx.runtime.cfg, inbound.content)
    kind = KINDS[str(key)]
    ctx.conversation.enter(FLOW, STEP_COMPOSE, {"kind": kind})
    return TextReply(ctx.text(f"compose_{kind}"))


def on_compose(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return new_ticket(inbound, ctx, kind=ctx.conversation.data.get("kind"))


def on_free_text(inbound: Inbound, ctx: HandlerContext) -> Reply:
    ticket = intake.followup_ticket(ctx.session, customer_id=ctx.customer.id, now=ctx.now, cfg=ctx.runtime.cfg)
    if ticket is not None and ctx.message is not None:
        intake.append_to_ticket(ctx.session, runtime=ctx.runtime, ticket=ticket, message=ctx.message,
                                text=inbound.content if ctx.analyzer_ready else None, now=ctx.now)
        return TextReply(ctx.text("followup_added", number=ticket.number), ticket_id=ticket.id)
    return new_ticket(inbound, ctx, kind=None)


def new_ticket(inbound: Inbound, ctx: HandlerContext, *, kind: str | None) -> Reply:
    from nlp import has_content

    text = (inbound.content or "").strip()
    if not has_content(text):
        # "？？？" or "。。。" says nothing to file: ask for the problem instead of queueing an empty ticket.
        return on_empty_text(inbound, ctx)
    if not ctx.analyzer_ready:
        # Slow path: store what can be known without the model now, classify and answer afterwards.
        raw = intake.with_type(intake.raw_classification(ctx.session, runtime=ctx.runtime, text=text), kind)
        ticket = _submit(ctx, raw, inbound.msg_type)
        return DeferredReply(finish=partial(_classify_later, ticket_id=ticket.id, kind=kind), ticket_id=ticket.id)
    classification = intake.with_type(classify(ctx.session, runtime=ctx.runtime, text=text), kind)
    ticket = _submit(ctx, classification, inbound.msg_type)
    return TextReply(after_new_ticket(ctx, ticket), ticket_id=ticket.id)


def _submit(ctx: HandlerContext, classification: Classification, msg_type: str) -> Ticket:
    return submit_feedback(ctx.session, customer=ctx.customer, channel=Channel.WECHAT,
                           classification=classification, now=ctx.now, cfg=ctx.runtime.cfg, msg_type=msg_type,
                           message=ctx.message)


def _classify_later(ctx: HandlerContext, *, ticket_id: int, kind: str | None) -> str | None:
    ticket = ctx.session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    classification = intake.with_type(classify(ctx.session, runtime=ctx.runtime, text=ticket.text), kind)
    intake.apply_classification(ctx.session, ticket=ticket, classification=classification, cfg=ctx.runtime.cfg,
                                now=ctx.now)
    return after_new_ticket(ctx, ticket)


def ticket_created_text(ctx: HandlerContext, ticket: Ticket) -> str:
    urgent_note = ""
    if ticket.priority == Priority.URGENT.value:
        hours, _ = policy_hours(ctx.runtime.cfg.section("sla"), ticket.priority)
        urgent_note = ctx.text("ticket_created_urgent_note", hours=f"{hours:g}")
    return ctx.text("ticket_created", number=ticket.number, urgent_note=urgent_note)


def after_new_ticket(ctx: HandlerContext, ticket: Ticket) -> str:
    """The acknowledgement, and the question which branch when nobody knows."""
    created = ticket_created_text(ctx, ticket)
    if ticket.branch_id is not None or not intake.has_branches(ctx.session):
        if ctx.flow == FLOW:
            ctx.conversation.leave()
        return created
    limit = int(ctx.runtime.cfg.get("conversations.branch_suggestions", 3))
    options = intake.branch_options(ctx.session, customer_id=ctx.customer.id, text=ticket.text, limit=limit)
    ctx.conversation.enter(FLOW, STEP_BRANCH, {"ticket_id": ticket.id, "options": [b.code for b in options]})
    return created + "\n\n" + _branch_question(ctx, options, key="branch_question")


def _branch_question(ctx: HandlerContext, options: list[Branch], *, key: str) -> str:
    if not options:
        return ctx.text("branch_question_open")
    lines = "\n".join(ctx.text("branch_option", index=i, name=b.name) for i, b in enumerate(options, 1))
    return ctx.text(key, options=lines)


def on_branch_answer(inbound: Inbound, ctx: HandlerContext) -> Reply:
    session, data = ctx.session, ctx.conversation.data
    ticket = session.get(Ticket, data.get("ticket_id") or 0)
    if ticket is None or ticket.customer_id != ctx.customer.id:
        ctx.conversation.leave()
        return on_free_text(inbound, ctx)
    if ctx.message is not None:
        ctx.message.ticket_id = ticket.id  # the answer belongs to the ticket's conversation
    text = (inbound.content or "").strip().rstrip("。.!！")
    if text in SKIP_WORDS or text in ("不知道", "不清楚", "不记得了", "忘了"):
        ctx.conversation.leave()
        return TextReply(ctx.text("branch_skipped", number=ticket.number), ticket_id=ticket.id)
    codes: list[str] = list(data.get("options") or [])
    choice = parse_score(text, 1, len(codes)) if codes else None
    branch = intake.branch_by_code(session, codes[choice - 1]) if choice else intake.find_branch(session, text)
    if branch is not None:
        intake.set_ticket_branch(session, ticket=ticket, branch=branch, now=ctx.now)
        ctx.conversation.leave()
        return TextReply(ctx.text("branch_set", branch=branch.name, number=ticket.number), ticket_id=ticket.id)
    limit = int(ctx.runtime.cfg.get("conversations.branch_suggestions", 3))
    if len(text) >= DETAIL_MIN_CHARS:
        # Not an answer but more about the problem: keep it on the ticket and ask again.
        if ctx.message is not None:
            intake.append_to_ticket(session, runtime=ctx.runtime, ticket=ticket, message=ctx.message, text=None,
                                    now=ctx.now)
        options = [b for b in (intake.branch_by_code(session, c) for c in codes) if b is not None]
        return TextReply(ctx.text("followup_added", number=ticket.number) + "\n\n"
                         + _branch_question(ctx, options, key="branch_question"), ticket_id=ticket.id)
    suggestions = intake.suggest(session, text=text, limit=limit)
    ctx.conversation.advance(STEP_BRANCH, options=[b.code for b in suggestions] or codes)
    if suggestions:
        return TextReply(_branch_question(ctx, suggestions, key="branch_did_you_mean"), ticket_id=ticket.id)
    return TextReply(ctx.text("branch_not_found"), ticket_id=ticket.id)


def on_media(inbound: Inbound, ctx: HandlerContext) -> Reply:
    conversation = ctx.conversation
    ticket: Ticket | None = None
    if conversation.flow == FLOW and conversation.step == STEP_BRANCH:
        ticket = ctx.session.get(Ticket, conversation.data.get("ticket_id") or 0)
    elif conversation.flow != FLOW:
        ticket = intake.followup_ticket(ctx.session, customer_id=ctx.customer.id, now=ctx.now, cfg=ctx.runtime.cfg)
    if ticket is not None and ticket.customer_id == ctx.customer.id and ctx.message is not None:
        intake.append_to_ticket(ctx.session, runtime=ctx.runtime, ticket=ticket, message=ctx.message, text=None,
                                now=ctx.now)
        located = intake.find_branch(ctx.session, inbound.label or "") if inbound.location else None
        if located is not None and ticket.branch_id is None:
            intake.set_ticket_branch(ctx.session, ticket=ticket, branch=located, now=ctx.now)
        return TextReply(ctx.text("media_added", number=ticket.number), ticket_id=ticket.id)
    kind = conversation.data.get("kind") if conversation.flow == FLOW else None
    label = intake.MEDIA_LABELS.get(inbound.msg_type, inbound.msg_type)
    detail = f"：{inbound.label}" if inbound.label else ""
    raw = intake.raw_classification(ctx.session, runtime=ctx.runtime, text=inbound.label or "")
    classification = intake.with_type(Classification(
        text=f"（客户发送了{label}{detail}）", priority=raw.priority, urgent_reasons=raw.urgent_reasons,
        needs_triage=True, branch_code=raw.branch_code), kind)
    ticket = _submit(ctx, classification, inbound.msg_type)
    if conversation.flow == FLOW:
        conversation.leave()
    return TextReply(ticket_created_text(ctx, ticket) + "\n\n" + ctx.text("media_ticket_ask_text"),
                     ticket_id=ticket.id)


def on_empty_text(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return TextReply(ctx.text("empty_text"))


def register(router: Router) -> None:
    router.add(filters.menu_action(*KINDS), on_menu, group=GROUP_MENU)
    router.add(filters.in_step(FLOW, STEP_COMPOSE) & filters.has_text, on_compose, group=GROUP_FLOW)
    router.add(filters.in_step(FLOW, STEP_BRANCH) & filters.has_text, on_branch_answer, group=GROUP_FLOW)
    router.add(filters.media, on_media, group=GROUP_MEDIA)
    router.add(filters.has_text, on_free_text, group=GROUP_FREE_TEXT)
    router.add(filters.text, on_empty_text, group=GROUP_FREE_TEXT)
