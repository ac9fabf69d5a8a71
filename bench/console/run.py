"""Console queue with 100,000 open tickets: the real queue queries, with and without the queue indexes.

Fills a fresh database (SQLite file by default, PostgreSQL with DATABASE_URL, which gets a
private database that is dropped afterwards) with open and closed tickets spread over teams,
branches and categories, then times services.queue.queue_page as an admin, an agent and a
branch manager would call it: the first page, filtered pages, a deep page continued by its
keyset cursor, text and number searches. The baseline is the same calls after dropping the
four queue indexes of migration 0004, and a deep page by OFFSET.

    python -m bench.console.run [--open 100000] [--closed 20000] [--repeat 7]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.console.run
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from core.config import load_config
from bench.databases import private_database
from core.db import get_engine, session_factory, transaction, upgrade
from models import Branch, Ticket
from services.branches import load_branch_file, upsert_branches
from services.queue import QueueFilters, queue_page, queue_summary
from services.staff import create_staff

QUEUE_INDEXES = {
    "ix_tickets_team_escalation": "team, escalation_at, id",
    "ix_tickets_branch_escalation": "branch_id, escalation_at, id",
    "ix_tickets_assignee_escalation": "assignee_id, escalation_at, id",
    "ix_tickets_triage_escalation": "needs_triage, escalation_at, id",
}
TEXTS = ["排队等了一个多小时，只开了两个窗口", "柜员态度冷淡，问什么都不耐烦", "ATM吞卡，等了三天还没退回",
         "手机银行转账老是失败", "小额账户管理费为什么要收", "理财经理推销保险", "网点空调坏了很热",
         "大堂经理很热情，表扬一下"]


def fill(engine: Any, cfg: Any, *, open_count: int, closed_count: int, now: datetime, seed: int = 7) -> None:
    """Branches, three staff members and the tickets, inserted in bulk."""
    rng = random.Random(seed)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        upsert_branches(s, rows=load_branch_file(), now=now)
        create_staff(s, cfg=cfg, username="admin", password="bench-password", role="admin", now=now, actor="bench")
        for team in ("card_center", "risk"):
            create_staff(s, cfg=cfg, username=f"agent_{team}", password="bench-password", role="agent", team=team,
                         now=now, actor="bench")
        for code in ("RMR", "HCZ"):
            create_staff(s, cfg=cfg, username=f"manager_{code.lower()}", password="bench-password",
                         role="manager", branch_codes=[code], now=now, actor="bench")
        branches = dict(s.execute(select(Branch.code, Branch.id)).all())
    # Real queues are skewed: a small self-service area (HCZ) and the risk team see few tickets.
    branch_ids = list(branches.values())
    branch_weights = [0.002 if code == "HCZ" else 1.0 for code in branches]
    categories = list(cfg.section("routing")["categories"].items())
    category_weights = [0.01 if team == "risk" else 1.0 for _, team in categories]
    rows: list[dict[str, Any]] = []
    total = open_count + closed_count
    for i in range(total):
        category, team = rng.choices(categories, category_weights)[0]
        created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 10))
        is_open = i < open_count
        urgent = rng.random() < 0.1
        triage = rng.random() < 0.05
        due = created + timedelta(hours=24 if not urgent else 2)
        rows.append({
            "number": f"QJ{created:%y%m%d}-{i + 1:06d}", "channel": "wechat", "customer_id": None,
            "branch_id": rng.choices(branch_ids, branch_weights)[0], "type": "complaint", "category": category,
            "type_confidence": 0.9, "category_confidence": 0.3 if triage else 0.9, "needs_triage": triage,
            "team": None if triage else team, "priority": "urgent" if urgent else "normal", "urgent_reasons": [],
            "status": rng.choice(["new", "open", "pending"]) if is_open else "closed",
            "text": rng.choice(TEXTS) + f"（第{i}号）", "created_at": created, "updated_at": created,
            "first_reply_due_at": due if is_open else None,
            "resolution_due_at": created + timedelta(hours=72) if is_open else None,
            "escalation_at": due if is_open else None, "reopen_count": 0,
        })
        if len(rows) == 5000:
            with engine.begin() as conn:
                conn.execute(insert(Ticket), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(Ticket), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _time(call: Callable[[], Any], repeat: int) -> float:
    call()  # warm caches
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def scenarios(sessions: Any, cfg: Any, now: datetime) -> dict[str, Callable[[], Any]]:
    def page(username: str, filters: QueueFilters, *, deep: bool = False) -> Callable[[], Any]:
        cursor = None
        if deep:  # a cursor about half-way down the admin's queue
            with sessions() as s:
                key = s.execute(select(Ticket.escalation_at, Ticket.id).where(Ticket.escalation_at.is_not(None))
                                .order_by(Ticket.escalation_at, Ticket.id).offset(50_000).limit(1)).first()
            if key is not None:
                import base64

                raw = f"{key[0].isoformat()}|{key[1]}".encode("ascii")
                cursor = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

        def run() -> Any:
            with sessions() as s:
                return queue_page(s, staff=_staff(s, username), cfg=cfg, filters=filters, now=now, cursor=cursor)

        return run

    def offset_page() -> Any:
        with sessions() as s:
            return list(s.scalars(select(Ticket).where(Ticket.status.in_(("new", "open", "pending")))
                                  .order_by(Ticket.escalation_at, Ticket.id).offset(50_000).limit(26)))

    def dashboard(username: str) -> Callable[[], Any]:
        def run() -> Any:
            with sessions() as s:
                return queue_summary(s, staff=_staff(s, username), cfg=cfg, now=now, day_start=now - timedelta(hours=8))

        return run

    with sessions() as s:
        number = s.scalar(select(Ticket.number).order_by(Ticket.id.desc()).limit(1))
    return {
        "admin, first page": page("admin", QueueFilters()),
        "agent, big team, first page": page("agent_card_center", QueueFilters()),
        "agent, small team, first page": page("agent_risk", QueueFilters()),
        "manager, big branch, first page": page("manager_rmr", QueueFilters()),
        "manager, small branch, first page": page("manager_hcz", QueueFilters()),
        "agent, big team, assigned to me": page("agent_card_center", QueueFilters(mine=True)),
        "admin, category + urgent": page("admin", QueueFilters(category="fees", priority="urgent")),
        "admin, manual triage": page("admin", QueueFilters(triage=True)),
        "admin, page after 50,000 (keyset)": page("admin", QueueFilters(), deep=True),
        "page after 50,000 by OFFSET": offset_page,
        "admin, search ticket number": page("admin", QueueFilters(q=str(number))),
        "admin, search text": page("admin", QueueFilters(q="吞卡")),
        "dashboard counts, admin (whole bank)": dashboard("admin"),
        "dashboard counts, manager (small branch)": dashboard("manager_hcz"),
    }


def _staff(session: Any, username: str) -> Any:
    from models import Staff

    return session.scalars(select(Staff).where(Staff.username == username)).one()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open", type=int, default=100_000, help="open tickets")
    parser.add_argument("--closed", type=int, default=20_000, help="closed tickets")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per query (median shown)")
    args = parser.parse_args(argv)
    url, drop = private_database(os.environ.get("DATABASE_URL"), prefix="qj_bench_console")
    try:
        cfg = load_config(environ={}, overrides={"database.url": url, "console.secret_key": "bench",
                                                 "console.password_hashing.memory_kib": 1024,
                                                 "console.password_hashing.time_cost": 1,
                                                 "console.password_hashing.parallelism": 1})
        engine = get_engine(url)
        upgrade(engine)
        now = datetime.now(UTC)
        started = time.perf_counter()
        fill(engine, cfg, open_count=args.open, closed_count=args.closed, now=now)
        print(f"{engine.dialect.name}: {args.open:,} open + {args.closed:,} closed tickets "
              f"in {time.perf_counter() - started:.1f} s")
        sessions = session_factory(engine)
        runs = scenarios(sessions, cfg, now)
        with_indexes = {name: _time(call, args.repeat) for name, call in runs.items()}
        with engine.begin() as conn:
            for name in QUEUE_INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
            conn.execute(text("ANALYZE"))
        baseline = {name: _time(call, args.repeat) for name, call in runs.items()}
        with engine.begin() as conn:
            for name, columns in QUEUE_INDEXES.items():
                conn.execute(text(f"CREATE INDEX {name} ON tickets ({columns})"))
        print(f"{'query (median of ' + str(args.repeat) + ', ms)':<40}{'indexed':>10}{'no 0004 idx':>14}{'ratio':>8}")
        for name in runs:
            ratio = baseline[name] / with_indexes[name] if with_indexes[name] else float("nan")
            print(f"{name:<40}{with_indexes[name]:>10.1f}{baseline[name]:>14.1f}{ratio:>7.1f}x")
        print("Each queue page also counts its matches (capped at console.count_limit), included above.")
        engine.dispose()
    finally:
        drop()


if __name__ == "__main__":
    main()
