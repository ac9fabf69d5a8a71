"""Feedback from the bank's app: its customers, their tickets and their replies.

App tickets go through the same classification, routing, SLA and escalation as WeChat
ones (services.classify + services.tickets.submit_feedback with Channel.APP). A customer
only ever sees their own tickets: anyone else's is reported exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    AppCustomer,
    AppFeedback,
    Branch,
    Channel,
    Customer,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)
from services import messages as message_log
from services.classify import classify
from services.runtime import Runtime
from services.tickets import submit_feedback, transition

# Outbound messages that did not reach anyone are not replies the customer has.
UNDELIVERED = ("failed", "retry")


class FeedbackError(Exception):
    """A request the service refuses; `code` is stable, `message` is for the customer (Chinese)."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class FeedbackNotFound(FeedbackError):
    """Nothing by that name for this customer (anyone else's is reported the same way)."""


class TicketNotFound(FeedbackNotFound):
    def __init__(self) -> None:
        super().__init__("ticket_not_found", "找不到该工单")


class FeedbackConflict(FeedbackError):
    """The request contradicts what is stored (a used client id, a closed ticket)."""


class FeedbackInvalid(FeedbackError):
    """A well-formed value that names nothing we know (e.g. an unknown branch)."""


@dataclass(frozen=True)
class CustomerReply:
    ticket: Ticket
    message: Message


def find_customer_id(session: Session, *, app: str, app_user_id: str) -> int | None:
    """Our customer for the app's customer id, without creating one (reads never write)."""
    return session.scalars(
        select(AppCustomer.customer_id).where(AppCustomer.app == app, AppCustomer.app_user_id == app_user_id)
    ).one_or_none()


def get_or_create_customer(session: Session, *, app: str, app_user_id: str, now: datetime) -> Customer:
    """The customer behind an app customer id; safe against a concurrent first request."""
    customer_id = find_customer_id(session, app=app, app_user_id=app_user_id)
    if customer_id is None:
        try:
            with session.begin_nested():
                customer = Customer(openid=None, subscribed=False, created_at=now)
                session.add(customer)
                session.flush()
                session.add(AppCustomer(app=app, app_user_id=app_user_id, customer_id=customer.id, created_at=now))
            return customer
        except IntegrityError:
            # Another request linked this app customer first; use theirs.
            customer_id = find_customer_id(session, app=app, app_user_id=app_user_id)
            if customer_id is None:
                raise
    return session.get_one(Customer, customer_id)


def submit(session: Session, *, runtime: Runtime, customer: Customer, api_client_id: int, text: str,
           client_id: str, now: datetime, branch_code: str | None = None, contact: str | None = None) -> Ticket:
    """Turn the app's feedback into a numbered ticket; one ticket per (customer, client id)."""
    branch_id = None
    if branch_code is not None:
        branch_id = session.scalars(
            select(Branch.id).where(Branch.code == branch_code, Branch.active.is_(True))
        ).one_or_none()
        if branch_id is None:
            raise FeedbackInvalid("unknown_branch", f"网点代码 {branch_code} 不存在", field="branch_code")
    classification = classify(session, runtime=runtime, text=text)
    try:
        with session.begin_nested():
            ticket = submit_feedback(session, customer=customer, channel=Channel.APP, classification=classification,
                                     now=now, cfg=runtime.cfg, branch_id=branch_id)
            session.add(AppFeedback(ticket_id=ticket.id, customer_id=customer.id, api_client_id=api_client_id,
                                    client_id=client_id, contact=contact, created_at=now))
            session.flush()
    except IntegrityError:
        number = session.scalars(
            select(Ticket.number).join(AppFeedback, AppFeedback.ticket_id == Ticket.id)
            .where(AppFeedback.customer_id == customer.id, AppFeedback.client_id == client_id)
        ).one_or_none()
        if number is None:
            raise
        raise FeedbackConflict("duplicate_client_id", f"该反馈已提交过，工单号：{number}", field="client_id") from None
    return ticket


def list_tickets(session: Session, *, customer_id: int | None, limit: int, offset: int) -> tuple[list[Ticket], int]:
    """The customer's tickets, newest first, and how many there are in all."""
    if customer_id is None:
        return [], 0
    where = Ticket.customer_id == customer_id
    total = int(session.scalar(select(func.count()).select_from(Ticket).where(where)) or 0)
    tickets = session.scalars(
        select(Ticket).where(where).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset)
    )
    return list(tickets), total


def get_ticket(session: Session, *, customer_id: int | None, number: str, for_update: bool = False) -> Ticket:
    """The customer's own ticket by number; anyone else's is TicketNotFound, like a missing one."""
    if customer_id is None:
        raise TicketNotFound()
    query = select(Ticket).where(Ticket.number == number, Ticket.customer_id == customer_id)
    if for_update:
        query = query.with_for_update()
    ticket = session.scalars(query).one_or_none()
    if ticket is None:
        raise TicketNotFound()
    return ticket


def client_id_of(session: Session, *, ticket_id: int) -> str | None:
    return session.scalars(select(AppFeedback.client_id).where(AppFeedback.ticket_id == ticket_id)).one_or_none()


def conversation(session: Session, *, ticket_id: int) -> list[Message]:
    """What the customer and the bank said on the ticket, oldest first (undelivered attempts left out)."""
    return list(session.scalars(
        select(Message)
        .where(Message.ticket_id == ticket_id)
        .where(or_(Message.direction == Direction.INBOUND.value, Message.delivery_status.is_(None),
                   Message.delivery_status.not_in(UNDELIVERED)))
        .order_by(Message.created_at, Message.id)
    ))


def add_reply(session: Session, *, runtime: Runtime, customer_id: int | None, number: str, text: str,
              now: datetime) -> CustomerReply:
    """The customer writes on their ticket: logged, and a ticket waiting on them (or resolved) is open again."""
    from nlp import redact

    ticket = get_ticket(session, customer_id=customer_id, number=number, for_update=True)
    status = TicketStatus(ticket.status)
    if status in (TicketStatus.CLOSED, TicketStatus.MERGED):
        raise FeedbackConflict("ticket_closed", f"工单 {ticket.number} 已关闭，如有新的问题请重新提交反馈")
    message = message_log.log_inbound(session, customer_id=customer_id, ticket_id=ticket.id, msg_type="text",
                                      content=redact(text), now=now, channel=Channel.APP.value)
    if status in (TicketStatus.PENDING, TicketStatus.RESOLVED):
        # Pending: the answer the bank waited for. Resolved: reopening owes the customer a fresh answer.
        transition(session, ticket=ticket, to=TicketStatus.OPEN, now=now, actor="customer",
                   sla=runtime.cfg.section("sla"))
    else:
        ticket.updated_at = now
    session.flush()
    return CustomerReply(ticket=ticket, message=message)
