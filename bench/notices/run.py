"""Improvement-notice dispatch: sends per second to the fake WeChat API, rate limit off.

The fake server runs in its own process (`python -m bot.fake_wechat`) so it does not share
this process's GIL. Recipients are bulk-loaded (customers with one wait_time ticket each,
inside their 48-hour window), then published with the real `publish_improvement` and sent
with the real `dispatch_notices` (claim, commit `sending`, HTTP, commit the outcome, per
recipient). The baseline, measured in the same run against the same server, is the bare
WeChat API client sending customer-service messages in a loop: the HTTP ceiling.

    python -m bench.notices.run                       # SQLite file in a temp dir
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.notices.run
    ... --recipients 100000 --baseline 3000
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import create_engine, insert, select

from bench.databases import private_database
from core.clock import SystemClock
from core.config import ROOT, load_config
from core.db import normalize_url, upgrade
from models import Branch, Customer, NoticeOutbox, Ticket

APP_ID, APP_SECRET = "wxbenchnotices0001", "bench-notices-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.fake_wechat", "--port", str(port), "--app-id", APP_ID,
                             "--app-secret", APP_SECRET], cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{url}/_fake/stats", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake WeChat server did not start")


def load_recipients(runtime: Any, count: int, now: datetime) -> None:
    with runtime.sessions.begin() as s:
        s.add(Branch(code="B001", name="千佳银行人民路支行", aliases=[], created_at=now))
        s.flush()
        branch_id = s.scalar(select(Branch.id))
        for start in range(0, count, 10000):
            chunk = range(start, min(count, start + 10000))
            s.execute(insert(Customer), [{"openid": f"o-bench-{i:07d}", "subscribed": True, "created_at": now,
                                          "last_interaction_at": now - timedelta(hours=1)} for i in chunk])
        ids = list(s.scalars(select(Customer.id).order_by(Customer.id)))
        for start in range(0, count, 10000):
            s.execute(insert(Ticket), [
                {"customer_id": cid, "branch_id": branch_id, "category": "wait_time", "team": "branch_ops",
                 "priority": "normal", "status": "resolved", "text": "排队太久", "created_at": now - timedelta(days=1),
                 "updated_at": now, "urgent_reasons": [], "channel": "wechat", "needs_triage": False,
                 "reopen_count": 0} for cid in ids[start:start + 10000]])


def baseline(api_base: str, count: int) -> float:
    from bot.wechat_api import MemoryTokenStore, WeChatAPI

    api = WeChatAPI(app_id=APP_ID, app_secret=APP_SECRET, token_store=MemoryTokenStore(), api_base_url=api_base)
    api.send_text(openid="o-warmup", content="warm-up")
    started = time.perf_counter()
    for i in range(count):
        api.send_text(openid=f"o-baseline-{i}", content="【服务改进公告】叫号系统升级")
    elapsed = time.perf_counter() - started
    api.close()
    return count / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=3000, help="messages for the bare-client baseline")
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args(argv)

    from services.improvements import create_improvement, publish_improvement
    from services.notices import dispatch_notices, notice_progress
    from services.runtime import build_runtime

    fake, api_base = start_fake()
    url, drop = private_database(os.environ.get("DATABASE_URL"), prefix="qj_bench_notices")
    try:
        engine = create_engine(normalize_url(url))
        upgrade(engine)
        engine.dispose()
        cfg = load_config(environ={}, overrides={
            "database.url": url, "wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET,
            "wechat.api_base_url": api_base, "wechat.templates.improvement_notice": "TM_BENCH",
            "notices.rate_per_second": 0, "notices.max_seconds_per_run": 0, "notices.batch_size": args.batch_size,
        })
        runtime = build_runtime(cfg, clock=SystemClock())
        now = datetime.now(UTC)
        started = time.perf_counter()
        load_recipients(runtime, args.recipients, now)
        print(f"database: {runtime.engine.dialect.name}; loaded {args.recipients:,} recipients in "
              f"{time.perf_counter() - started:.1f} s")

        with runtime.sessions.begin() as s:
            improvement = create_improvement(s, title="叫号系统升级", body="全部网点叫号机已升级，可在手机银行预约取号。",
                                             category="wait_time", branch_ids=[], effective_date=None,
                                             created_by="bench", now=now)
        started = time.perf_counter()
        with runtime.sessions.begin() as s:
            published = publish_improvement(s, improvement_id=improvement.id, include_category_feedback=True,
                                            period_start=now - timedelta(days=7), period_end=now, now=now,
                                            actor="bench")
        print(f"publish: {published.total_recipients:,} outbox rows in {time.perf_counter() - started:.2f} s")

        base_rate = baseline(api_base, args.baseline)
        print(f"baseline (bare API client, {args.baseline:,} sends): {base_rate:,.0f} sends/s")
        requests.post(f"{api_base}/_fake/reset", json={}, timeout=5)

        started, cpu_started = time.perf_counter(), time.process_time()
        stats = dispatch_notices(runtime=runtime)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rate = stats.sent / elapsed
        received = requests.get(f"{api_base}/_fake/stats", timeout=30).json()["received"]
        with runtime.sessions() as s:
            progress = notice_progress(s, improvement_id=improvement.id)[0]
            unsent = s.scalar(select(NoticeOutbox.id).where(NoticeOutbox.status != "sent").limit(1))
        print(f"dispatch: {stats.sent:,} sent in {elapsed:.1f} s = {rate:,.0f} sends/s "
              f"(fake server received {received:,} calls incl. token fetches; outbox {progress.counts})")
        print(f"dispatcher CPU: {cpu:.1f} s in this process = {stats.sent / cpu:,.0f} sends per CPU-second "
              f"(the rest of the wall time is the database, the fake server and other load on the machine)")
        after_rate = baseline(api_base, args.baseline)
        print(f"baseline again after the dispatch: {after_rate:,.0f} sends/s")
        print(f"ratio dispatcher / bare client: {rate / base_rate:.2f} (against the later baseline "
              f"{rate / after_rate:.2f})")
        if unsent is not None or stats.sent != args.recipients:
            raise SystemExit("not every recipient was sent exactly once")
        runtime.engine.dispose()
    finally:
        fake.kill()
        fake.wait()
        drop()


if __name__ == "__main__":
    main()
