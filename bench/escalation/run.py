"""One escalation sweep over 1,000 due tickets among 10,000 and among 1,000,000 (PostgreSQL).

The sweep is one indexed range query on tickets.escalation_at, so its cost should follow
the number of due tickets, not the table: the goal is large/small <= 1.5. Tickets are
bulk-loaded with COPY into a private database per size (dropped afterwards); 80 % of them are closed
(no running deadline), the rest run with deadlines spread over the next 30 days, and exactly
`--due` have a first-reply deadline that has just passed (warning and breach both due).
Rows are loaded in creation order, as a live table grows. Each size sweeps once to warm the
caches, then `--repeat` times from a clean slate (fired escalations removed), the sizes in
turn so that other load on the machine falls on both alike; the medians count.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.escalation.run
    ... --sizes 10000,1000000 --due 1000 --repeat 7
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text

from bench.databases import private_database
from core.config import load_config
from core.db import normalize_url, session_factory, upgrade
from services.escalation import escalate_overdue_tickets

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
COLUMNS = ("number", "channel", "branch_id", "category", "team", "priority", "urgent_reasons", "status", "text",
           "created_at", "updated_at", "first_reply_due_at", "resolution_due_at", "escalation_at", "needs_triage",
           "reopen_count")


def _rows(total: int, due: int, seed: int) -> Any:
    """Rows in creation order, as a live table grows: old closed tickets first, the due ones
    (created a little over 24 h ago) next, the open ones received in the last hours last."""
    rng = random.Random(seed)
    kinds = ["due"] * due + ["closed" if rng.random() < 0.8 else "open" for _ in range(total - due)]
    tickets = []
    for kind in kinds:
        if kind == "due":
            created = NOW - timedelta(hours=24, minutes=rng.randint(1, 50))
            first, resolution = created + timedelta(hours=24), created + timedelta(hours=72)
        elif kind == "closed":
            created = NOW - timedelta(days=rng.randint(4, 700), seconds=rng.randint(0, 86399))
            first, resolution = None, None
        else:
            created = NOW - timedelta(hours=rng.random() * 3)
            first, resolution = None, NOW + timedelta(hours=5 + rng.random() * 24 * 30)
        tickets.append((created, kind, first, resolution))
    tickets.sort(key=lambda t: t[0])
    for i, (created, kind, first, resolution) in enumerate(tickets):
        running = [d for d in (first, resolution) if d is not None]
        status = {"due": "new", "closed": "closed", "open": "open"}[kind]
        yield (f"QJ{i:09d}", "wechat", None, "wait_time", "branch_ops", "normal", "[]", status, "排队太久",
               created, created, first, resolution, min(running) if running else None, False, 0)


def load(engine: Any, total: int, due: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE tickets, ticket_events, escalations, notification_deliveries "
                          "RESTART IDENTITY CASCADE"))
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY tickets ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _rows(total, due, seed=total):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE tickets"))
        conn.execute(text("CHECKPOINT"))  # the load's dirty pages are not written during the sweeps
    return time.perf_counter() - started


def sweep_once(engine: Any, cfg: Any) -> tuple[float, dict[str, Any]]:
    with engine.begin() as conn:  # only the sweep writes these tables here: start each run empty
        conn.execute(text("TRUNCATE escalations, ticket_events, notification_deliveries RESTART IDENTITY"))
    sessions = session_factory(engine)
    started = time.perf_counter()
    result = escalate_overdue_tickets(sessions=sessions, cfg=cfg, now=NOW)
    return time.perf_counter() - started, result.as_dict()


def plan(engine: Any) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "EXPLAIN SELECT id, escalation_at FROM tickets WHERE escalation_at <= :h "
            "ORDER BY escalation_at, id LIMIT 500"), {"h": NOW + timedelta(hours=4)}).all()
    return "\n".join("    " + r[0] for r in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL server (private databases are created and dropped)")
    sizes = [int(x) for x in args.sizes.split(",")]
    engines: dict[int, Any] = {}
    drops: list[Any] = []
    try:
        for size in sizes:
            url, drop = private_database(base, prefix=f"qj_bench_esc_{size}")
            drops.append(drop)
            engines[size] = create_engine(normalize_url(url))
            upgrade(engines[size])
            print(f"{size:>9,} tickets loaded in {load(engines[size], size, args.due):.1f} s", flush=True)
        # No notification targets: the sweep's own work (range query, inserts, events) is what is measured.
        cfg = load_config(environ={}, overrides={"database.url": base})
        times: dict[int, list[float]] = {size: [] for size in sizes}
        results: dict[int, dict[str, Any]] = {}
        # Sizes alternate, so load from anything else on the machine falls on both alike; the first
        # round warms the caches and is not counted.
        for round_ in range(args.repeat + 1):
            for size in sizes:
                elapsed, results[size] = sweep_once(engines[size], cfg)
                if round_:
                    times[size].append(elapsed)
        medians = {size: statistics.median(times[size]) for size in sizes}
        for size in sizes:
            print(f"{size:>9,} tickets: sweep median {medians[size] * 1000:.1f} ms over {args.repeat} runs "
                  f"{[round(t * 1000) for t in times[size]]}; result {json.dumps(results[size])}")
        print("range query plan at the largest size:\n" + plan(engines[sizes[-1]]))
        if len(sizes) >= 2:
            ratio = medians[sizes[-1]] / medians[sizes[0]]
            verdict = "OK" if ratio <= 1.5 else "ABOVE GOAL"
            print(f"ratio {sizes[-1]:,} / {sizes[0]:,} tickets: {ratio:.2f} (goal <= 1.5: {verdict})")
    finally:
        for engine in engines.values():
            engine.dispose()
        for drop in drops:
            drop()

if __name__ == "__main__":
    main()
