"""The audit log: one row per staff action or data-subject request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import AuditLog


def record(session: Session, *, actor: str, action: str, now: datetime, target_type: str | None = None,
           target_id: object | None = None, data: Mapping[str, Any] | None = None) -> AuditLog:
    """Write one audit row in the caller's transaction (so it commits with the action itself)."""
    entry = AuditLog(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        data=dict(data or {}),
        created_at=now,
    )
    session.add(entry)
    return entry
