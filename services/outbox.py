"""Claiming outbox rows (staff notifications, customer notices) so each is sent once.

A dispatcher works like this:

1. ``recover_stale``: claims older than the claim timeout belong to a process that died.
   Rows it had only *claimed* go back to pending (they were never sent). The row it was
   *sending* may or may not have reached WeChat; what happens to it is the caller's policy
   (customer notices: ``unknown``, never resent; staff alerts: resent).
2. ``claim_batch``: reserve a batch with a claim token, committed. On PostgreSQL the rows
   are picked with ``FOR UPDATE SKIP LOCKED`` so several dispatchers never pick the same
   row; on SQLite the engine's ``BEGIN IMMEDIATE`` serialises the claim.
3. For each row: ``begin_send`` (fenced by the claim token) is committed *before* the HTTP
   call, in one commit with the previous row's outcome (one commit per message). So at
   any instant a dispatcher has at most one row in ``sending``: the only row a crash can
   leave undecided. No transaction is open during the HTTP call or the rate limiter's
   wait (on SQLite every transaction holds the write lock, and the webhook must not wait
   for WeChat).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import OutboxStatus

CLAIMED = OutboxStatus.CLAIMED.value
PENDING = OutboxStatus.PENDING.value
SENDING = OutboxStatus.SENDING.value


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def new_claim_token() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Recovery:
    released: int  # claimed but never sent: pending again
    stale_sending: int  # were being sent when their dispatcher died


def recover_stale(
    session: Session,
    *,
    model: Any,
    now: datetime,
    claim_timeout: timedelta,
    stale_sending_values: Mapping[str, Any],
) -> Recovery:
    """Release the claims of dispatchers that died; settle their in-flight row with `stale_sending_values`."""
    cutoff = now - claim_timeout
    released = _rowcount(session.execute(
        update(model)
        .where(model.status == CLAIMED, model.claimed_at < cutoff)
        .values(status=PENDING, claim_token=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    ))
    stale = _rowcount(session.execute(
        update(model)
        .where(model.status == SENDING, model.claimed_at < cutoff)
        .values(**stale_sending_values)
        .execution_options(synchronize_session=False)
    ))
    return Recovery(released=released, stale_sending=stale)


def claim_batch(session: Session, *, model: Any, now: datetime, limit: int, token: str) -> list[int]:
    """Reserve up to `limit` due rows for this dispatcher; the caller commits."""
    pick = (
        select(model.id)
        .where(model.status == PENDING, model.next_attempt_at <= now)
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(session.scalars(pick))
    if not ids:
        return []
    claimed = session.scalars(
        update(model)
        .where(model.id.in_(ids), model.status == PENDING)
        .values(status=CLAIMED, claim_token=token, claimed_at=now)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


def begin_send(session: Session, *, model: Any, row_id: int, token: str, now: datetime) -> bool:
    """Mark one claimed row `sending` (attempts + 1); False if the claim was lost to another dispatcher."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.claim_token == token, model.status == CLAIMED)
        .values(status=SENDING, claimed_at=now, attempts=model.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def release_claims(session: Session, *, model: Any, token: str, ids: Sequence[int], next_attempt_at: datetime) -> int:
    """Give unsent claimed rows back (e.g. WeChat's quota is used up): pending from `next_attempt_at`."""
    if not ids:
        return 0
    result = session.execute(
        update(model)
        .where(model.id.in_(list(ids)), model.claim_token == token, model.status == CLAIMED)
        .values(status=PENDING, claim_token=None, claimed_at=None, next_attempt_at=next_attempt_at)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def backoff(*, attempts: int, base_seconds: float, max_seconds: float, hint_seconds: float | None = None) -> timedelta:
    """base * 2^(attempts-1), capped; a longer retry hint from WeChat (quota reset) wins."""
    seconds = min(max_seconds, base_seconds * (2 ** max(0, attempts - 1)))
    if hint_seconds is not None:
        seconds = max(seconds, hint_seconds)
    return timedelta(seconds=seconds)


@dataclass
class Pacer:
    """At most `rate` sends per second in this process (0 = unlimited); clock and sleep injectable."""

    rate: float
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = field(default=0.0, init=False)

    def wait(self) -> None:
        if self.rate <= 0:
            return
        now = self.monotonic()
        if self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + 1.0 / self.rate


class PauseDispatch(Exception):
    """Raised by a send handler after recording its row: stop and hand the rest back until `until`."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


@dataclass
class DispatchStats:
    """What one dispatcher run did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0  # back to pending with a back-off
    unknown: int = 0  # possibly delivered (ambiguous network error): never resent
    lost_claims: int = 0  # taken over by another dispatcher after our claim timed out
    released: int = 0  # claims handed back unsent (pause, time budget)
    recovered_claims: int = 0  # dead dispatchers' unsent claims made pending again
    recovered_sending: int = 0  # dead dispatchers' in-flight rows settled by the stale policy
    paused_until: datetime | None = None
    pause_reason: str | None = None

    def count(self, status: str) -> None:
        if status == OutboxStatus.SENT.value:
            self.sent += 1
        elif status == OutboxStatus.FAILED.value:
            self.failed += 1
        elif status == OutboxStatus.UNKNOWN.value:
            self.unknown += 1
        else:
            self.retry += 1

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


class SendHandler(Protocol):
    """Sends one row's message: `prepare` reads what the send needs (in the `sending` transaction),
    `send` makes the call with no transaction open, then records the outcome on the row."""

    def prepare(self, session: Session, row: Any, now: datetime) -> Any: ...

    def send(self, session: Session, row: Any, prepared: Any, now: datetime) -> str: ...


def dispatch(
    *,
    sessions: Callable[[], Session],
    model: Any,
    clock: Any,
    handle: SendHandler,
    batch_size: int,
    claim_timeout: timedelta,
    stale_sending_values: Mapping[str, Any],
    pacer: Pacer | None = None,
    max_seconds: float = 0,
    max_rows: int | None = None,
) -> DispatchStats:
    """Claim due rows batch by batch and send each through `handle`, one committed `sending` row at a time."""
    from sqlalchemy.orm.attributes import set_committed_value

    stats = DispatchStats()
    token = new_claim_token()
    started = time.monotonic()

    def out_of_budget() -> bool:
        return (max_rows is not None and stats.claimed >= max_rows) or _time_up(started, max_seconds)

    with sessions() as session:
        recovery = recover_stale(session, model=model, now=clock.now(), claim_timeout=claim_timeout,
                                 stale_sending_values=stale_sending_values)
        session.commit()
        stats.recovered_claims, stats.recovered_sending = recovery.released, recovery.stale_sending
        while not out_of_budget():
            limit = batch_size if max_rows is None else max(1, min(batch_size, max_rows - stats.claimed))
            ids = claim_batch(session, model=model, now=clock.now(), limit=limit, token=token)
            rows = {r.id: r for r in session.scalars(select(model).where(model.id.in_(ids)))} if ids else {}
            session.commit()
            if not ids:
                break
            stats.claimed += len(ids)
            for index, row_id in enumerate(ids):
                if pacer is not None:
                    pacer.wait()
                now = clock.now()
                if index and _time_up(started, max_seconds):
                    stats.released += release_claims(session, model=model, token=token, ids=ids[index:],
                                                      next_attempt_at=now)
                    session.commit()
                    return stats
                row = rows[row_id]
                if not begin_send(session, model=model, row_id=row_id, token=token, now=now):
                    session.commit()
                    stats.lost_claims += 1
                    continue
                set_committed_value(row, "status", SENDING)
                set_committed_value(row, "attempts", (row.attempts or 0) + 1)
                set_committed_value(row, "claimed_at", now)
                prepared = handle.prepare(session, row, now)
                # `sending` is durable before the message leaves (with the previous row's outcome).
                session.commit()
                try:
                    status = handle.send(session, row, prepared, now)
                except PauseDispatch as pause:
                    stats.count(row.status)
                    stats.released += release_claims(session, model=model, token=token, ids=ids[index + 1:],
                                                      next_attempt_at=pause.until)
                    session.commit()
                    stats.paused_until, stats.pause_reason = pause.until, pause.reason
                    return stats
                stats.count(status)
                if pacer is not None and pacer.rate > 0:
                    session.commit()  # never hold a transaction while the rate limiter sleeps
            session.commit()
    return stats


def _time_up(started: float, max_seconds: float) -> bool:
    return max_seconds > 0 and time.monotonic() - started >= max_seconds
