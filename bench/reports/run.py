"""Benchmark: every KPI of one quarter (services.kpi.kpi_summary) over 100,000 and 1,000,000 tickets.

PostgreSQL only. Each size gets a private database (created, migrated, bulk-loaded with COPY, dropped),
so nothing else is touched. Prints load time, KPI time (best and median of --repeat runs, warm cache),
the goal (≤ 3 s for 1,000,000 tickets) and how the time scales between the sizes.

    .venv/bin/python bench/reports/run.py --url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/reports/run.py --sizes 100000 --repeat 3      # quick look

By default every ticket falls in the measured quarter (the worst case for one quarter's KPIs);
--quarters 4 spreads them over four quarters instead.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.config import load_config
from core.db import get_engine, normalize_url, session_factory, upgrade
from services.kpi import Scope, kpi_summary
from services.kpi_periods import Period

GOAL_SECONDS = 3.0
QUARTER = "2026Q3"
CATEGORIES = ["wait_time", "staff_attitude", "professionalism", "process_efficiency", "fees", "self_service",
              "product_sales", "account_card", "digital_channels", "environment", "security_privacy", "other"]
TYPES = np.array(["complaint", "suggestion", "inquiry", "praise"])
CHANNELS = np.array(["wechat", "app", "offline"])
KINDS = ["business_hall", "service_center", "self_service"]
N_BRANCHES = 40


def ts(epochs: np.ndarray) -> np.ndarray:
    """Epoch seconds (float, NaN = NULL) as COPY text: ISO UTC timestamps or \\N."""
    out = np.full(epochs.shape, "\\N", dtype=object)
    ok = ~np.isnan(epochs)
    stamps = np.datetime_as_string((epochs[ok] * 1e6).astype("datetime64[us]"), unit="us")
    out[ok] = np.char.add(stamps.astype(str), "+00")
    return out


def copy(conn: Any, table: str, columns: list[str], cols: list[np.ndarray | list[Any]], chunk: int = 100_000) -> int:
    """COPY rows given column-wise (already COPY text or numbers) into a table."""
    n = len(cols[0])
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for start in range(0, n, chunk):
            part = [c[start:start + chunk] for c in cols]
            buf = io.StringIO()
            for row in zip(*part, strict=True):
                buf.write("\t".join(map(str, row)))
                buf.write("\n")
            cp.write(buf.getvalue())
    return n


def load(url: str, n: int, quarters: int, seed: int) -> dict[str, int]:
    """Bulk-load a realistic data set of n tickets (and visits, surveys, …) with COPY."""
    rng = np.random.default_rng(seed)
    tz_q = Period.parse(QUARTER, "Asia/Shanghai")
    first = tz_q.shift(-(quarters - 1))
    t0, t1 = first.start.timestamp(), tz_q.end.timestamp()
    now = t1 + 30 * 86400
    engine = create_engine(normalize_url(url))
    counts: dict[str, int] = {}
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        created = datetime(2025, 1, 1, tzinfo=UTC).isoformat()
        kinds = [KINDS[i % 3] if i % 5 else "self_service" for i in range(N_BRANCHES)]
        counts["branches"] = copy(conn, "branches", ["id", "code", "name", "kind", "aliases", "active", "created_at"], [
            list(range(1, N_BRANCHES + 1)), [f"B{i:03d}" for i in range(1, N_BRANCHES + 1)],
            [f"千佳银行第{i}网点" for i in range(1, N_BRANCHES + 1)], kinds, ["[]"] * N_BRANCHES,
            ["t"] * N_BRANCHES, [created] * N_BRANCHES])
        n_customers = max(n // 2, 10)
        cust_branch = rng.integers(1, N_BRANCHES + 1, n_customers)
        counts["customers"] = copy(conn, "customers", ["id", "openid", "subscribed", "branch_id", "created_at"], [
            np.arange(1, n_customers + 1), [f"obench{i:010d}" for i in range(1, n_customers + 1)],
            ["t"] * n_customers, cust_branch, [created] * n_customers])

        created_at = np.sort(rng.uniform(t0, t1, n))
        kind = TYPES[rng.choice(4, n, p=[0.55, 0.18, 0.17, 0.10])]
        reply_h = np.where(rng.random(n) < 0.05, rng.uniform(24, 72, n), rng.lognormal(np.log(5), 0.8, n))
        replied = created_at + reply_h * 3600
        replied[rng.random(n) < 0.01] = np.nan
        resolved = replied + rng.lognormal(np.log(24), 0.7, n) * 3600
        resolved[np.isnan(replied) | (rng.random(n) < 0.03)] = np.nan
        reopen = np.where(~np.isnan(resolved) & (rng.random(n) < 0.05), 1, 0)
        status = np.where(np.isnan(replied), "new", np.where(np.isnan(resolved), "open", "resolved"))
        categories = np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)]
        ids = np.arange(1, n + 1)
        counts["tickets"] = copy(conn, "tickets", [
            "id", "number", "channel", "customer_id", "branch_id", "type", "category", "needs_triage", "team",
            "priority", "urgent_reasons", "status", "text", "created_at", "updated_at", "first_reply_due_at",
            "resolution_due_at", "first_replied_at", "resolved_at", "reopen_count"], [
            ids, [f"QJB-{i:08d}" for i in ids], CHANNELS[rng.choice(3, n, p=[0.7, 0.2, 0.1])],
            rng.integers(1, n_customers + 1, n), rng.integers(1, N_BRANCHES + 1, n), kind, categories,
            ["f"] * n, ["branch_ops"] * n, ["normal"] * n, ["[]"] * n, status, ["排队太久，窗口太少"] * n,
            ts(created_at), ts(created_at), ts(created_at + 86400), ts(created_at + 72 * 3600), ts(replied),
            ts(resolved), reopen])

        days = np.arange(np.datetime64(first.first_day.isoformat()), np.datetime64(tz_q.end_day.isoformat()))
        vb, vd = np.meshgrid(np.arange(1, N_BRANCHES + 1), days.astype(str))
        # Footfall scaled to the ticket volume so the complaint rate stays near 5-10 %.
        vc = rng.integers(50, 400, vb.size) * max(1, n // 100_000) * 3
        counts["visit_counts"] = copy(conn, "visit_counts", ["branch_id", "day", "count", "imported_at"], [
            vb.ravel(), vd.ravel(), vc, [created] * vb.size])
        n_visits = n // 5
        counts["visits"] = copy(conn, "visits", ["customer_id", "branch_id", "source", "visited_at"], [
            rng.integers(1, n_customers + 1, n_visits), rng.integers(1, N_BRANCHES + 1, n_visits),
            ["scan"] * n_visits, ts(rng.uniform(t0, t1, n_visits))])
        with conn.cursor() as cur:
            cur.execute("INSERT INTO survey_rounds (id, name, branch_codes, audience, starts_at, ends_at, status, "
                        "created_by, created_at) VALUES (1, 'bench', '[]', 'both', now(), now(), 'closed', 'b', now())")
            cur.execute("INSERT INTO staff (id, username, display_name, password_hash, role, active, created_at) "
                        "VALUES (1, 'bench', 'bench', '!', 'agent', false, now())")
        invited = rng.choice(n_customers, min(n // 4, n_customers), replace=False) + 1
        counts["survey_invitations"] = copy(conn, "survey_invitations", [
            "round_id", "customer_id", "invited_at", "delivery_status"], [
            [1] * len(invited), invited, ts(rng.uniform(t0, t1, len(invited))), ["sent"] * len(invited)])
        answered = invited[: len(invited) * 2 // 5]
        k = len(answered)
        done = rng.uniform(t0, t1, k)
        counts["survey_responses"] = copy(conn, "survey_responses", [
            "round_id", "customer_id", "branch_id", "kind", "overall", "aspects", "nps", "started_at",
            "completed_at"], [
            [1] * k, answered, rng.integers(1, N_BRANCHES + 1, k), ["satisfaction"] * k,
            rng.choice(np.arange(1, 6), k, p=[0.05, 0.07, 0.1, 0.38, 0.4]),
            ['{"wait_time": 4, "staff_attitude": 5, "professionalism": 4, "environment": 3}'] * k,
            rng.integers(0, 11, k), ts(done), ts(done)])
        checked = rng.choice(n, n // 10, replace=False) + 1
        m = len(checked)
        counts["resolution_checks"] = copy(conn, "survey_responses", [
            "customer_id", "ticket_id", "kind", "overall", "aspects", "started_at", "completed_at"], [
            rng.integers(1, n_customers + 1, m), checked, ["resolution_check"] * m, rng.integers(1, 6, m),
            ["{}"] * m, ts(created_at[checked - 1] + 86400), ts(created_at[checked - 1] + 90000)])
        rv = rng.choice(n, n // 4, replace=False) + 1
        counts["revisits"] = copy(conn, "revisits", ["ticket_id", "staff_id", "method", "outcome", "created_at"], [
            rv, [1] * len(rv), ["phone"] * len(rv), ["已回访"] * len(rv), ts(created_at[rv - 1] + 2 * 86400)])
        esc = rng.choice(n, n // 10, replace=False) + 1
        fired = created_at[esc - 1] + 86400
        counts["escalations"] = copy(conn, "escalations", [
            "ticket_id", "level", "deadline", "due_at", "fire_at", "fired_at", "notify"], [
            esc, np.array(["first_reply_breach", "first_reply_breach_2", "resolution_breach"])[
                rng.integers(0, 3, len(esc))], ["first_reply"] * len(esc), ts(fired), ts(fired), ts(fired),
            ["team"] * len(esc)])
        months = [m.first_day.isoformat() for q in range(quarters) for m in first.shift(q).months()]
        ib = np.repeat(np.arange(1, N_BRANCHES + 1), len(months))
        counts["branch_inspections"] = copy(conn, "branch_inspections", [
            "branch_id", "month", "score", "item_scores", "source", "created_at", "updated_at"], [
            ib, months * N_BRANCHES, np.round(rng.uniform(70, 99, ib.size), 2),
            ['{"environment": 12, "etiquette": 13}'] * ib.size, ["import"] * ib.size, [created] * ib.size,
            [created] * ib.size])
        sessions = N_BRANCHES * 2 * quarters
        part = rng.integers(8, 30, sessions)
        counts["training_assessments"] = copy(conn, "training_assessments", [
            "branch_id", "session_code", "title", "held_on", "participants", "passed", "source", "created_at",
            "updated_at"], [
            np.repeat(np.arange(1, N_BRANCHES + 1), 2 * quarters), [f"S{i}" for i in range(sessions)],
            ["礼仪"] * sessions, [first.first_day.isoformat()] * sessions, part,
            np.minimum(part, (part * rng.uniform(0.8, 1.0, sessions)).astype(int)), ["import"] * sessions,
            [created] * sessions, [created] * sessions])
        raw.commit()
        with conn.cursor() as cur:
            for table in ("tickets", "customers", "branches", "staff", "survey_rounds"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        raw.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    finally:
        raw.close()
        engine.dispose()
    counts["now"] = int(now)
    return counts


def measure(url: str, repeat: int, now_epoch: int, by: str | None) -> list[float]:
    cfg = load_config(environ={}, overrides={"database.url": url})
    sessions = session_factory(get_engine(url))
    scope = Scope(Period.parse(QUARTER, "Asia/Shanghai"))
    now = datetime.fromtimestamp(now_epoch, UTC)
    times = []
    for _ in range(repeat):
        with sessions() as session:
            started = time.perf_counter()
            summary = kpi_summary(session, cfg=cfg, scope=scope, now=now, by=by)
            times.append(time.perf_counter() - started)
    t = summary
    print(f"    tickets {t.volume.total.tickets:,}, complaint rate {t.complaint_rate.total.value:.4f}, "
          f"24h reply {t.first_reply.total.value:.4f}, median reply {t.first_reply.total.median_hours:.2f} h, "
          f"p90 {t.first_reply.total.p90_hours:.2f} h, CSAT {t.satisfaction.total.value:.4f}, "
          f"revisit {t.revisit.total.value:.4f}", flush=True)
    return times


def databases(base: str, sizes: list[int]) -> Iterator[tuple[int, str]]:
    admin_url = make_url(normalize_url(base))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    for n in sizes:
        name = f"qj_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        try:
            yield n, url
        finally:
            from core.db import dispose_engines

            dispose_engines()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL server (a private database is created next to this one)")
    parser.add_argument("--sizes", default="100000,1000000", help="ticket counts, comma-separated")
    parser.add_argument("--quarters", type=int, default=1, help="quarters the tickets are spread over")
    parser.add_argument("--repeat", type=int, default=5, help="KPI runs per size (best and median reported)")
    parser.add_argument("--by", default=None, help="also break down by this dimension (e.g. branch)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.url.startswith("postgres"):
        parser.error("the benchmark needs PostgreSQL (--url postgresql://…)")
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, float] = {}
    print(f"KPIs of {QUARTER} (kpi_summary{f', by={args.by}' if args.by else ''}); tickets over "
          f"{args.quarters} quarter(s); {args.repeat} runs each\n")
    for n, url in databases(args.url, sizes):
        started = time.perf_counter()
        upgrade(get_engine(url))
        counts = load(url, n, args.quarters, args.seed)
        load_s = time.perf_counter() - started
        print(f"{n:>9,} tickets: loaded in {load_s:.1f} s (COPY: " + ", ".join(
            f"{k} {v:,}" for k, v in counts.items() if k != "now") + ")", flush=True)
        times = measure(url, args.repeat, counts["now"], args.by)
        results[n] = min(times)
        print(f"    all KPIs: best {min(times):.3f} s, median {statistics.median(times):.3f} s "
              f"(runs: {', '.join(f'{t:.3f}' for t in times)})\n", flush=True)
    if len(results) > 1:
        small, large = min(results), max(results)
        ratio = results[large] / results[small]
        print(f"scaling {small:,} → {large:,} tickets (×{large / small:.0f}): time ×{ratio:.2f}")
    if 1_000_000 in results:
        verdict = "met" if results[1_000_000] <= GOAL_SECONDS else "MISSED"
        print(f"goal ≤ {GOAL_SECONDS:.0f} s for 1,000,000 tickets: {results[1_000_000]:.3f} s — {verdict}")


if __name__ == "__main__":
    main()
