"""The satisfaction survey (满意度调查) as a conversation: one question per message."""

from __future__ import annotations

from functools import partial

from handlers.context import HandlerContext
from handlers.router import GROUP_ANSWERS, GROUP_FLOW, GROUP_MENU, Filter, Router, filters
from handlers.types import DeferredReply, Inbound, Reply, TextReply
from models import SurveyResponse
from services import surveys
from services.menu import MENU_SURVEY

# A message this long that is not an answer is feedback, not a mistyped score: it falls through
# to the feedback handlers (a ticket) while the survey waits for its answer.
FEEDBACK_MIN_CHARS = 10
# Short texts right after a survey timed out are late answers, not feedback.
LATE_ANSWER_MAX_CHARS = 6


def _takes_answer(inbound: Inbound, ctx: HandlerContext) -> bool:
    items = surveys.questions(ctx.runtime.cfg)
    index = int(ctx.conversation.data.get("index", 0))
    if index >= len(items) or items[index].field == "comment":
        return True
    text = (inbound.content or "").strip()
    return len(text) < FEEDBACK_MIN_CHARS or surveys.parse_score(text, items[index].low, items[index].high) is not None


def on_menu(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return TextReply(surveys.start_survey(ctx.session, runtime=ctx.runtime, customer=ctx.customer,
                                          conversation=ctx.conversation, now=ctx.now))


def on_answer(inbound: Inbound, ctx: HandlerContext) -> Reply:
    step = surveys.answer_survey(ctx.session, runtime=ctx.runtime, customer=ctx.customer,
                                 conversation=ctx.conversation, text=inbound.content or "", now=ctx.now)
    if step.completed is None:
        return TextReply(step.reply or "")
    if step.completed.comment and not ctx.analyzer_ready:
        # Reading the comment needs the classifier, which is still loading: thank the customer afterwards.
        return DeferredReply(finish=partial(_conclude_later, response_id=step.completed.id))
    reply = surveys.conclude_survey(ctx.session, runtime=ctx.runtime, customer=ctx.customer,
                                    response=step.completed, now=ctx.now)
    return TextReply(reply, ticket_id=step.completed.complaint_ticket_id)


def _conclude_later(ctx: HandlerContext, *, response_id: int) -> str | None:
    response = ctx.session.get(SurveyResponse, response_id)
    if response is None:
        return None
    return surveys.conclude_survey(ctx.session, runtime=ctx.runtime, customer=ctx.customer, response=response,
                                   now=ctx.now)


def on_late_answer(inbound: Inbound, ctx: HandlerContext) -> Reply:
    return TextReply(ctx.text("survey_expired"))


def register(router: Router) -> None:
    router.add(filters.menu_action(MENU_SURVEY), on_menu, group=GROUP_MENU)
    router.add(filters.in_flow(surveys.FLOW) & filters.has_text & Filter(_takes_answer, "survey_answer"),
               on_answer, group=GROUP_FLOW)
    late = Filter(lambda i, c: c.conversation.expired_flow == surveys.FLOW
                  and len((i.content or "").strip()) <= LATE_ANSWER_MAX_CHARS, "late_survey_answer")
    router.add(filters.flow_expired & filters.has_text & late, on_late_answer, group=GROUP_ANSWERS)
