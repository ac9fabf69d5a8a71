"""SQLAlchemy models. Import from here so Alembic sees every table."""

from models.base import Base, UTCDateTime
from models.core import (
    BRANCH_KIND_NAMES,
    OPEN_STATUSES,
    TICKET_TRANSITIONS,
    AuditLog,
    Branch,
    BranchKind,
    Channel,
    Customer,
    Direction,
    InboundDedup,
    Message,
    Priority,
    Ticket,
    TicketEvent,
    TicketStatus,
    WeChatAccessToken,
)

__all__ = [
    "BRANCH_KIND_NAMES",
    "OPEN_STATUSES",
    "TICKET_TRANSITIONS",
    "AuditLog",
    "Base",
    "Branch",
    "BranchKind",
    "Channel",
    "Customer",
    "Direction",
    "InboundDedup",
    "Message",
    "Priority",
    "Ticket",
    "TicketEvent",
    "TicketStatus",
    "UTCDateTime",
    "WeChatAccessToken",
]
