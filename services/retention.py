"""The retention policy (config `retention:`): anonymise old free text, purge long-gone customers,
drop old dedup records, expired API Idempotency-Keys and finished rate-limit windows.  Idempotent:
a second run the same day changes nothing.

Which columns hold free text is discovered from the models (services.privacy), so a text
column another module adds to a customer- or ticket-linked table ages out too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Table, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction
from core.metrics import record_retention
from models import OPEN_STATUSES, Base, Customer, IdempotencyRecord, InboundDedup, RateCounter, Ticket
from services import audit, idempotency, rate_limits
from services.privacy import ANONYMISED, customer_tables, erase_holding, free_text_columns

log = logging.getLogger(__name__)

ACTOR = "system:retention"


def months_before(moment: datetime, months: int) -> datetime:
    """The same day-of-month `months` earlier (clamped to the month's last day)."""
    import calendar

    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class RetentionPolicy:
    message_text_months: int
    unsubscribed_customer_months: int
    dedup_hours: float
    idempotency_hours: float
    batch_size: int

    @classmethod
    def from_config(cls, cfg: Any) -> RetentionPolicy:
        return cls(
            message_text_months=int(cfg.get("retention.message_text_months", 24) or 0),
            unsubscribed_customer_months=int(cfg.get("retention.unsubscribed_customer_months", 6) or 0),
            dedup_hours=float(cfg.get("wechat.dedup_retention_hours", 24) or 0),
            idempotency_hours=float(cfg.get("api.idempotency_retention_hours", 24) or 0),
            batch_size=max(1, int(cfg.get("retention.batch_size", 500) or 500)),
        )


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> action -> rows

    def add(self, table: str, action: str, rows: int) -> None:
        if rows:
            bucket = self.counts.setdefault(table, {})
            bucket[action] = bucket.get(action, 0) + rows

    @property
    def total(self) -> int:
        return sum(n for actions in self.counts.values() for n in actions.values())


# -- rules ------------------------------------------------------------------------------------


def _open_ticket_ids() -> Any:
    return select(Ticket.id).where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))


def _text_rule(table: Table, cutoff: datetime) -> ColumnElement[bool] | None:
    """Rows of `table` whose free text is due for anonymisation (None: the table has none)."""
    columns = free_text_columns(table)
    created = table.c.get("created_at")
    if not columns or created is None:
        return None
    conditions: list[ColumnElement[bool]] = [
        created < cutoff,
        or_(*[and_(c.is_not(None), c != "", c != ANONYMISED) for c in columns]),
    ]
    tickets = Ticket.__table__
    if table is tickets:
        conditions.append(tickets.c.status.not_in([s.value for s in OPEN_STATUSES]))
    for fk in table.foreign_keys:
        if fk.column.table is tickets and table is not tickets:
            # Staff still need the words of a ticket that is open.
            conditions.append(or_(fk.parent.is_(None), fk.parent.not_in(_open_ticket_ids())))
    return and_(*conditions)


def _batched_update(sessions: sessionmaker[Session], table: Table, where: ColumnElement[bool],
                    values: dict[str, Any], batch_size: int) -> int:
    pk = list(table.primary_key.columns)
    done = 0
    while True:
        with transaction(sessions) as session:
            if len(pk) == 1:
                ids = list(session.scalars(select(pk[0]).where(where).limit(batch_size)))
                if not ids:
                    return done
                session.execute(update(table).where(pk[0].in_(ids)).values(**values))
                done += len(ids)
            else:  # composite keys: one statement (such tables are small link tables)
                return done + (session.execute(update(table).where(where).values(**values)).rowcount or 0)


def _count(sessions: sessionmaker[Session], table: FromClause, where: ColumnElement[bool]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(where)) or 0)


def anonymise_old_texts(*, sessions: sessionmaker[Session], policy: RetentionPolicy, now: datetime,
                        report: RetentionReport) -> None:
    if policy.message_text_months <= 0:
        return
    cutoff = months_before(now, policy.message_text_months)
    for table in customer_tables():
        where = _text_rule(table, cutoff)
        if where is None:
            continue
        if report.dry_run:
            report.add(table.name, "anonymised", _count(sessions, table, where))
            continue
        values = {c.name: ANONYMISED for c in free_text_columns(table)}
        rows = _batched_update(sessions, table, where, values, policy.batch_size)
        record_retention(table.name, "anonymised", rows)
        report.add(table.name, "anonymised", rows)


def purge_unsubscribed(*, sessions: sessionmaker[Session], policy: RetentionPolicy, now: datetime,
                       report: RetentionReport, templates: Iterable[str] = ()) -> None:
    """Customers who left long ago: erased like a data-subject request, one transaction each."""
    if policy.unsubscribed_customer_months <= 0:
        return
    cutoff = months_before(now, policy.unsubscribed_customer_months)
    where = and_(Customer.subscribed.is_(False), Customer.unsubscribed_at < cutoff, Customer.openid.is_not(None))
    if report.dry_run:
        report.add(Customer.__tablename__, "purged", _count(sessions, Customer.__table__, where))
        return
    while True:
        with transaction(sessions) as session:
            ids = list(session.scalars(select(Customer.id).where(where).order_by(Customer.id)
                                       .limit(policy.batch_size)))
        if not ids:
            return
        for customer_id in ids:
            with transaction(sessions) as session:
                customer = session.get(Customer, customer_id, with_for_update=True)
                if customer is None or customer.openid is None:
                    continue  # another run got there first
                erased = erase_holding(session, customer=customer, now=now, actor=ACTOR, action="customer.purge",
                                       templates=templates)
            report.add(Customer.__tablename__, "purged", 1)
            for table, n in erased.rows.items():
                if table != Customer.__tablename__:
                    report.add(table, "erased", n)


def _delete_in_batches(*, sessions: sessionmaker[Session], model: type[Base], where: ColumnElement[bool],
                       purge: Callable[[Session, int], int], policy: RetentionPolicy, report: RetentionReport) -> None:
    """Delete what `where` selects with `purge(session, batch size)`, one transaction a batch, until a batch
    comes back short; the dry run counts `where`."""
    table = model.__tablename__
    if report.dry_run:
        report.add(table, "deleted", _count(sessions, model.__table__, where))
        return
    deleted = 0
    while True:
        with transaction(sessions) as session:
            rows = purge(session, policy.batch_size)
        deleted += rows
        if rows < policy.batch_size:
            break
    record_retention(table, "deleted", deleted)
    report.add(table, "deleted", deleted)


def delete_old_dedup(*, sessions: sessionmaker[Session], policy: RetentionPolicy, now: datetime,
                     report: RetentionReport) -> None:
    if policy.dedup_hours <= 0:
        return
    where = InboundDedup.created_at < now - timedelta(hours=policy.dedup_hours)

    def purge(session: Session, limit: int) -> int:
        ids = list(session.scalars(select(InboundDedup.id).where(where).limit(limit)))
        if ids:
            session.execute(delete(InboundDedup).where(InboundDedup.id.in_(ids)))
        return len(ids)

    _delete_in_batches(sessions=sessions, model=InboundDedup, where=where, purge=purge, policy=policy,
                       report=report)


def delete_expired_api_records(*, sessions: sessionmaker[Session], policy: RetentionPolicy, now: datetime,
                               report: RetentionReport) -> None:
    """The APP API's Idempotency-Keys past api.idempotency_retention_hours and its finished rate-limit windows."""
    if policy.idempotency_hours > 0:
        retention = timedelta(hours=policy.idempotency_hours)
        _delete_in_batches(sessions=sessions, model=IdempotencyRecord,
                           where=idempotency.expired(now=now, retention=retention),
                           purge=lambda session, limit: idempotency.purge_expired(session, now=now, retention=retention,
                                                                                   limit=limit),
                           policy=policy, report=report)
    # One row per key at most outlives its minute, so these go in one statement.
    _delete_in_batches(sessions=sessions, model=RateCounter, where=rate_limits.finished_windows(now),
                       purge=lambda session, _limit: rate_limits.purge_finished_windows(session, now=now),
                       policy=policy, report=report)


def run_retention(*, sessions: sessionmaker[Session], cfg: Any, now: datetime, dry_run: bool = False) -> RetentionReport:
    """Apply every retention rule as of `now`; with dry_run only count what would change."""
    policy = RetentionPolicy.from_config(cfg)
    report = RetentionReport(now=now, dry_run=dry_run)
    delete_old_dedup(sessions=sessions, policy=policy, now=now, report=report)
    delete_expired_api_records(sessions=sessions, policy=policy, now=now, report=report)
    templates = [str(t) for t in (cfg.section("messages") or {}).values()]
    purge_unsubscribed(sessions=sessions, policy=policy, now=now, report=report, templates=templates)
    anonymise_old_texts(sessions=sessions, policy=policy, now=now, report=report)
    if not dry_run and report.total:
        with transaction(sessions) as session:
            audit.record(session, actor=ACTOR, action="retention.run", now=now, data={"rows": report.counts})
    log.info("retention %s: %s", "dry run" if dry_run else "applied", report.counts or "nothing to do")
    return report
