"""Helpers for the personal-data tests: a customer with data in many tables, and a full-database search."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import JSON, String, Text, select

from models import Base, Customer, Ticket
from nlp.pii import id_check_char, luhn_valid


def _card() -> str:
    stem = "621700123456789012"
    return next(stem + str(d) for d in range(10) if luhn_valid(stem + str(d)))


CARD = _card()
RESIDENT_ID = "44030519850712003" + id_check_char("44030519850712003")
MOBILE = "13712345678"
OTHER_MOBILE = "13698765432"


@dataclass
class Person:
    openid: str
    texts: list[str]  # what they wrote (as the bot stores it, redacted)
    personal: list[str]  # every value that must be gone after erasure


def converse(user: Any, tag: str, mobile: str = MOBILE) -> list[str]:
    """A short conversation with personal data in it; returns the distinctive phrases written."""
    phrases = [f"{tag}支行的柜员办卡时一直推销理财产品", f"{tag}网点自助机吞卡了请尽快处理"]
    user.send_event("subscribe")
    user.send_text(f"{phrases[0]}，我的卡号{CARD}")
    user.send_text(f"{phrases[1]}，身份证{RESIDENT_ID}，电话{mobile}")
    return phrases


def converse_in_app(user: Any, tag: str, mobile: str = MOBILE) -> tuple[str, list[str]]:
    """The same personal data sent through the bank's app (feedback with a contact, then a reply on it);
    returns the ticket number and the distinctive phrases written."""
    phrases = [f"{tag}支行的柜员办卡时一直推销理财产品", f"{tag}网点自助机吞卡了请尽快处理"]
    submitted = user.submit(f"{phrases[0]}，我的卡号{CARD}", contact=mobile)
    assert submitted.status == 201, submitted.body
    number = submitted.json["number"]
    replied = user.reply(number, f"{phrases[1]}，身份证{RESIDENT_ID}，电话{mobile}")
    assert replied.status == 201, replied.body
    return number, phrases


def add_linked_rows(session: Any, *, openid: str, tag: str, now: Any, mobile: str = MOBILE) -> list[str]:
    """Rows in other modules' tables (console, APP API) that belong to the customer's ticket."""
    from models import ApiClient, AppCustomer, AppFeedback, CategoryCorrection, OfflineFeedback, Revisit, Staff

    customer = session.scalars(select(Customer).where(Customer.openid == openid)).one()
    ticket = session.scalars(select(Ticket).where(Ticket.customer_id == customer.id).order_by(Ticket.id)).first()
    staff = session.scalars(select(Staff).where(Staff.username == "agent_ops")).first()
    if staff is None:
        staff = Staff(username="agent_ops", display_name="客服小王", password_hash="x", role="agent", created_at=now)
        session.add(staff)
    client = session.scalars(select(ApiClient).where(ApiClient.name == "mobile-app")).first()
    if client is None:
        client = ApiClient(name="mobile-app", app="bank-app", key_prefix="kp1", key_hash="h" * 64,
                           signing_secret="s", created_at=now)
        session.add(client)
    session.flush()
    contact_name, app_user = f"{tag}先生", f"app-user-{tag}-{customer.id}"
    note = f"{tag}回访：客户表示理解，约定下周再到网点办理"
    session.add_all([
        Revisit(ticket_id=ticket.id, staff_id=staff.id, method="phone", outcome=note, created_at=now),
        CategoryCorrection(ticket_id=ticket.id, text=ticket.text, old_category=ticket.category,
                           new_category="product_sales", staff_id=staff.id, created_at=now),
        OfflineFeedback(ticket_id=ticket.id, source="phone", received_on=date(2026, 1, 5),
                        contact_name=contact_name, contact_phone=mobile, entered_by_id=staff.id, created_at=now),
        AppCustomer(app="bank-app", app_user_id=app_user, customer_id=customer.id, created_at=now),
        AppFeedback(ticket_id=ticket.id, customer_id=customer.id, api_client_id=client.id,
                    client_id=f"c-{tag}", contact=f"{tag.lower()}@example.com", created_at=now),
    ])
    return [contact_name, app_user, note, f"{tag.lower()}@example.com"]


def string_columns() -> list[tuple[Any, Any]]:
    return [(t, c) for t in Base.metadata.sorted_tables for c in t.columns
            if isinstance(c.type, (String, Text, JSON))]


def find_everywhere(session: Any, needles: list[str]) -> list[str]:
    """Every (table.column = value) in the whole database that contains one of the needles."""
    hits = []
    for table, column in string_columns():
        for value in session.scalars(select(column).where(column.is_not(None))):
            text = json.dumps(value, ensure_ascii=False) if isinstance(column.type, JSON) else str(value)
            hits += [f"{table.name}.{column.name}: {needle!r}" for needle in needles if needle in text]
    return hits
