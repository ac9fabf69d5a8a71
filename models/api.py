"""The APP channel: API clients (keys), app users linked to customers, idempotency records
and shared rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class ApiClient(Base):
    """One API key of the bank's app. Only the key's SHA-256 is stored; it is shown once."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Namespace of the app's own customer ids: keys of the same app (iOS, Android, a
    # rotated key) share it, so a customer keeps their tickets when a key is replaced.
    app: Mapped[str] = mapped_column(String(64))
    # The key's public first part, e.g. "qjk_1a2b3c4d": found by it, then compared in constant time.
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    # HMAC key for X-Customer-Signature. The server must be able to compute the HMAC, so
    # it is kept as issued (protect the database like the WeChat secrets it also holds).
    signing_secret: Mapped[str] = mapped_column(String(64))
    # NULL: the api.rate_limit.requests_per_minute default.
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppCustomer(Base):
    """The app's customer id (within one app) ↔ our customer row."""

    __tablename__ = "app_customers"
    __table_args__ = (UniqueConstraint("app", "app_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app: Mapped[str] = mapped_column(String(64))
    app_user_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AppFeedback(Base):
    """What the app sent with a ticket besides the text: its own id and a contact for a call back."""

    __tablename__ = "app_feedback"
    # The app's client-side id names one piece of feedback per customer, whatever the Idempotency-Key.
    __table_args__ = (UniqueConstraint("customer_id", "client_id"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    # Given by the customer so staff can call back; PII, shown only to staff (retention anonymises it).
    contact: Mapped[str | None] = mapped_column(String(128), info={"pii": True})
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """The first response to a POST with a given Idempotency-Key; the unique key makes a retry a replay."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("api_client_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path, customer and canonical body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RateCounter(Base):
    """Requests of one API key in one fixed window, shared by every process."""

    __tablename__ = "api_rate_counters"

    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
