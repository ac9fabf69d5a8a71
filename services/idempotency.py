"""Exactly-once POSTs: the first response to an Idempotency-Key is stored and replayed.

The work runs in one transaction that begins by inserting the record keyed by
(api client, key). A retry, even a concurrent one, collides on that unique key: it
waits for the first request's transaction and then answers with the response the
first request stored. Nothing is stored unless the work committed with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction
from models import IdempotencyRecord


class IdempotencyConflict(Exception):
    """The key was already used for a different request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str  # JSON text, byte for byte what the first request answered
    replayed: bool


def fingerprint(*, method: str, path: str, customer: str, payload: Any) -> str:
    """SHA-256 of what makes two requests "the same": the body compared as JSON, not as bytes."""
    canonical = json.dumps([method.upper(), path, customer, payload], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def execute_once(
    sessions: sessionmaker[Session],
    *,
    api_client_id: int,
    key: str,
    request_fingerprint: str,
    now: datetime,
    work: Callable[[Session], tuple[int, str]],
) -> StoredResponse:
    """Run `work` (returning status and JSON body) once per key; later calls replay its answer.

    `work` decides what is final: an answer it returns is stored, even an error answer
    (it should undo its own changes first); an exception stores nothing, so a retry runs again.
    """
    try:
        with transaction(sessions) as session:
            record = IdempotencyRecord(api_client_id=api_client_id, key=key, fingerprint=request_fingerprint,
                                       status_code=0, response_body="", created_at=now)
            session.add(record)
            session.flush()  # the unique key: a concurrent retry blocks here until we commit
            status, body = work(session)
            record.status_code = status
            record.response_body = body
        return StoredResponse(status=status, body=body, replayed=False)
    except IntegrityError:
        with sessions() as session:
            stored = session.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.api_client_id == api_client_id,
                                                IdempotencyRecord.key == key)
            ).one_or_none()
        if stored is None:
            raise  # not our key's collision: a real error in the work
        if stored.fingerprint != request_fingerprint:
            raise IdempotencyConflict(key) from None
        return StoredResponse(status=stored.status_code, body=stored.response_body, replayed=True)


def expired(*, now: datetime, retention: timedelta) -> ColumnElement[bool]:
    """The records older than the retention: a retry that late is a new request."""
    return IdempotencyRecord.created_at < now - retention


def purge_expired(session: Session, *, now: datetime, retention: timedelta, limit: int | None = None) -> int:
    """Forget keys older than the retention, at most `limit` of them (the daily retention job); returns how many."""
    where = expired(now=now, retention=retention)
    if limit is not None:
        where = IdempotencyRecord.id.in_(list(session.scalars(select(IdempotencyRecord.id).where(where).limit(limit))))
    result = session.execute(delete(IdempotencyRecord).where(where))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
