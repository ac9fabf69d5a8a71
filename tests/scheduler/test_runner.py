"""The job runner: registry, `qianjia jobs`, `qianjia scheduler`, and surviving a database outage."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from core.clock import FixedClock
from core.db import get_engine, transaction, upgrade
from models import DailyDigest, Escalation, Ticket, TicketStatus
from scheduler.registry import registered_jobs
from scheduler.runner import GuardedJob, build_scheduler
from services.runtime import build_runtime
from services.tickets import transition
from tests.conftest import make_config
from tests.scheduler.conftest import QIANJIA, T0, later, new_ticket, subprocess_env


def escalations(rt: Any) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Escalation)) or 0)


def test_registry_has_the_jobs_and_the_survey_jobs(sched_config: Any) -> None:
    names = set(registered_jobs(sched_config))
    assert {"escalate_overdue_tickets", "deliver_notifications", "dispatch_notices", "send_daily_digest"} <= names
    assert {"invite_survey_rounds", "checkin_surveys"} <= names  # issue 4's scheduler/survey_jobs.py


def test_jobs_run_with_a_chosen_time_and_jobs_list(rt: Any, sched_config: Any) -> None:
    from cli.main import cli

    new_ticket(rt)
    runner = CliRunner()
    early = runner.invoke(cli, ["jobs", "run", "escalate_overdue_tickets", "--now", "2026-11-29T04:59:00+08:00"],
                          obj={"config": sched_config})
    assert early.exit_code == 0, early.output
    assert json.loads(early.output)["result"]["fired"] == 0
    # Without an offset the time is bank-local: 05:00 Beijing = T0 + 20 h.
    due = runner.invoke(cli, ["jobs", "run", "escalate_overdue_tickets", "--now", "2026-11-29T05:00"],
                        obj={"config": sched_config})
    assert json.loads(due.output)["result"]["by_level"] == {"first_reply_warning": 1}
    unknown = runner.invoke(cli, ["jobs", "run", "no_such_job"], obj={"config": sched_config})
    assert unknown.exit_code != 0 and "没有名为 no_such_job 的任务" in unknown.output
    listing = runner.invoke(cli, ["jobs", "list"], obj={"config": sched_config})
    assert "escalate_overdue_tickets" in listing.output and "每天 08:30" in listing.output


def test_daily_digest_goes_out_once_per_team_and_day(rt: Any, fake_wechat: Any) -> None:
    from scheduler.jobs import send_daily_digest

    new_ticket(rt, now=T0 - timedelta(hours=30))  # breached
    new_ticket(rt, now=T0 - timedelta(hours=10))  # first reply due today (Beijing)
    new_ticket(rt, now=T0, team="digital")  # due tomorrow
    waiting = new_ticket(rt, now=T0 - timedelta(hours=30))  # would be breached, but waits for the customer
    with transaction(rt.sessions) as s:
        transition(s, ticket=s.get_one(Ticket, waiting), to=TicketStatus.PENDING, now=T0 - timedelta(hours=20))
    first = send_daily_digest(rt, later(minutes=30))
    assert "branch_ops" in first["sent"] and "digital" in first["sent"]
    again = send_daily_digest(rt, later(hours=2))
    assert again["sent"] == [] and set(again["already"]) == set(first["sent"])
    with rt.sessions() as s:
        ops = s.scalars(select(DailyDigest).where(DailyDigest.team == "branch_ops")).one()
        digital = s.scalars(select(DailyDigest).where(DailyDigest.team == "digital")).one()
    assert (ops.open_count, ops.due_today_count, ops.breached_count) == (3, 1, 1)
    assert (digital.open_count, digital.due_today_count, digital.breached_count) == (1, 0, 0)
    # Next bank-local day: a new digest.
    assert "branch_ops" in send_daily_digest(rt, later(hours=24))["sent"]


def test_a_job_survives_a_database_outage_and_backs_off(tmp_path: Path, model_dir: Path) -> None:
    """Runs on every backend: the outage is a SQLite file of its own that disappears."""
    db_file = tmp_path / "jobs.db"
    url = f"sqlite:///{db_file}"
    engine = get_engine(url)
    upgrade(engine)
    runtime = build_runtime(make_config(url, model_dir), clock=FixedClock(T0))
    new_ticket(runtime, now=T0 - timedelta(hours=30))
    job = registered_jobs(runtime.cfg)["escalate_overdue_tickets"]
    ticks = [1000.0]
    guarded = GuardedJob(job, runtime, backoff_seconds=5, backoff_max_seconds=20, monotonic=lambda: ticks[0])

    engine.dispose()
    moved = tmp_path / "gone"
    moved.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db_file}{suffix}").exists():
            Path(f"{db_file}{suffix}").rename(moved / f"jobs.db{suffix}")
    db_file.mkdir()  # now a directory: SQLite cannot open it
    guarded()
    assert guarded.failures == 1 and "OperationalError" in (guarded.last_error or "")
    guarded()  # still backing off: not even tried
    assert guarded.failures == 1
    ticks[0] += 5
    guarded()
    assert guarded.failures == 2  # tried again, failed, waits 10 s now
    ticks[0] += 9
    guarded()
    assert guarded.failures == 2

    db_file.rmdir()
    for suffix in ("", "-wal", "-shm"):
        if (moved / f"jobs.db{suffix}").exists():
            (moved / f"jobs.db{suffix}").rename(f"{db_file}{suffix}")
    engine.dispose()
    ticks[0] += 1
    guarded()
    assert guarded.failures == 0 and guarded.last_error is None
    assert guarded.last_result["by_level"] == {"first_reply_warning": 1, "first_reply_breach": 1}
    engine.dispose()


def test_background_scheduler_runs_the_sweep(rt: Any) -> None:
    new_ticket(rt, now=T0 - timedelta(hours=25))
    scheduler, guarded = build_scheduler(rt, blocking=False)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while escalations(rt) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    assert escalations(rt) == 2
    assert all(g.failures == 0 for g in guarded), [(g.job.name, g.last_error) for g in guarded]


def test_scheduler_process_runs_jobs_and_stops_on_sigterm(rt: Any, fake_wechat: Any, db_url: str) -> None:
    """`qianjia scheduler` on the real clock: a ticket created 25 hours ago is escalated."""
    new_ticket(rt, now=datetime.now(UTC) - timedelta(hours=25))
    proc = subprocess.Popen([*QIANJIA, "scheduler"], env=subprocess_env(db_url, fake_wechat),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while escalations(rt) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert escalations(rt) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "调度器已启动" in output and "调度器已停止" in output
