"""`qianjia demo generate`: realistic, deterministic history that the KPIs and the report can use."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from models import Ticket
from services import kpi
from services.demo_data import DemoDataExists, generate
from services.escalation import end_expired_waits
from services.kpi_periods import Period
from tests.conftest import clean_tables
from tests.kpi.conftest import SH, sh

UNTIL = date(2026, 11, 20)
NOW = sh(2026, 11, 20, 23, 59)


def _fingerprint(session: Any) -> str:
    rows = session.execute(select(Ticket.created_at, Ticket.category, Ticket.type, Ticket.first_replied_at,
                                  Ticket.resolved_at, Ticket.reopen_count).order_by(Ticket.id)).all()
    session.rollback()  # end the read: SQLite's transactions hold the write lock (BEGIN IMMEDIATE)
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def test_demo_history_is_realistic_and_deterministic(session: Any, rows: Any, config: Any, db_url: str) -> None:
    result = generate(session, cfg=config, tickets=400, quarters=2, seed=11, until=UNTIL, now=NOW)
    session.commit()
    assert result.counts["tickets"] == 400 and result.start == date(2026, 4, 1)
    for table in ("visit_counts", "checkins", "survey_responses", "revisits", "escalations", "inspections",
                  "training_sessions"):
        assert result.counts.get(table, 0) > 0, table
    q3 = kpi.Scope(Period.parse("2026Q3", SH))
    values = kpi.headline_values(kpi.kpi_summary(session, cfg=config, scope=q3, now=NOW))
    assert 0.02 < (values["complaint_rate"] or 0) < 0.3
    assert 0.5 < (values["satisfaction"] or 0) <= 1
    assert 0.7 < (values["reply_24h_rate"] or 0) <= 1
    assert 0 < (values["first_reply_median"] or 0) < 24
    assert values["revisit_rate"] is not None and values["training_pass_rate"] is not None
    # Demo tickets waiting for the customer wait within the answer window: the sweep leaves them waiting.
    waiting = session.scalars(select(Ticket.sla_paused_at).where(Ticket.status == "pending")).all()
    session.rollback()
    assert waiting and None not in waiting
    assert end_expired_waits(sessions=sessionmaker(bind=session.get_bind()), cfg=config, now=NOW) == 0
    first = _fingerprint(session)
    with pytest.raises(DemoDataExists):
        generate(session, cfg=config, tickets=10, quarters=1, seed=11, until=UNTIL, now=NOW)
    session.rollback()

    clean_tables(db_url)
    generate(session, cfg=config, tickets=400, quarters=2, seed=11, until=UNTIL, now=NOW)
    session.commit()
    assert _fingerprint(session) == first
    clean_tables(db_url)
    generate(session, cfg=config, tickets=400, quarters=2, seed=12, until=UNTIL, now=NOW)
    session.commit()
    assert _fingerprint(session) != first
    # Rows came with explicit ids: the app's own inserts still get fresh ones (PostgreSQL sequences moved on).
    assert rows.ticket(sh(2026, 11, 21), customer=rows.customer()).id > 400
