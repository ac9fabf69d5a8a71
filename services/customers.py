"""Customers: find or create by openid, keep the 48-hour service window current."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Customer

SERVICE_WINDOW = timedelta(hours=48)


def get_or_create_customer(session: Session, *, openid: str, now: datetime) -> Customer:
    """Return the customer for an openid, creating it; safe against a concurrent first message."""
    customer = session.scalars(select(Customer).where(Customer.openid == openid)).one_or_none()
    if customer is not None:
        return customer
    try:
        with session.begin_nested():
            customer = Customer(openid=openid, subscribed=True, created_at=now)
            session.add(customer)
    except IntegrityError:
        # Another request created this customer first; use theirs.
        customer = session.scalars(select(Customer).where(Customer.openid == openid)).one()
    return customer


def touch(customer: Customer, *, now: datetime) -> None:
    """Record an interaction: it opens (or extends) the customer-service window."""
    if customer.last_interaction_at is None or customer.last_interaction_at < now:
        customer.last_interaction_at = now


def in_service_window(customer: Customer, *, now: datetime) -> bool:
    """True while customer-service messages may be sent (48 h after the last interaction)."""
    last = customer.last_interaction_at
    return last is not None and now - last < SERVICE_WINDOW
