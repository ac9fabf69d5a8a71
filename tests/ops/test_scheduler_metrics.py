"""The scheduler's job runner and the SLA sweep move their metrics (and log with the job's name)."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.clock import FixedClock
from core.logging import configure_logging
from core.metrics import sample
from scheduler.registry import registered_jobs
from scheduler.runner import GuardedJob
from services import escalation
from services.runtime import build_runtime
from tests.conftest import make_config


def _runs(job: str, outcome: str) -> float:
    return sample("qianjia_scheduler_job_runs_total", {"job": job, "outcome": outcome})


def test_job_runs_failures_and_back_off_are_counted(runtime: Any, model_dir: Path) -> None:
    job = registered_jobs(runtime.cfg)["retention"]
    before = {o: _runs("retention", o) for o in ("ok", "failed", "skipped")}
    durations = sample("qianjia_scheduler_job_duration_seconds_count", {"job": "retention"})
    failures = sample("qianjia_scheduler_job_failures_total", {"job": "retention"})
    buffer = io.StringIO()
    handler = configure_logging(fmt="json", level="INFO", stream=buffer)
    try:
        GuardedJob(job, runtime)()
        broken = GuardedJob(job, build_runtime(make_config("postgresql://qj@127.0.0.1:1/none", model_dir)))
        broken()
        broken()  # backing off: not run
    finally:
        logging.getLogger().removeHandler(handler)
    assert _runs("retention", "ok") - before["ok"] == 1
    assert _runs("retention", "failed") - before["failed"] == 1
    assert _runs("retention", "skipped") - before["skipped"] == 1
    assert sample("qianjia_scheduler_job_duration_seconds_count", {"job": "retention"}) - durations == 2
    assert sample("qianjia_scheduler_job_failures_total", {"job": "retention"}) - failures == 1
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    done = [line for line in lines if line["msg"].startswith("job retention")]
    assert len(done) == 2 and all(line.get("job") == "retention" for line in done)


def test_sla_warnings_and_breaches_are_counted_once(config: Any, wechat_user: Any, runtime: Any) -> None:
    wechat_user().send_text("网点大堂经理态度很差，不理人")
    later = runtime.clock.now() + timedelta(hours=25)

    def counts() -> tuple[float, float]:
        return (sample("qianjia_sla_warnings_total", {"kind": "first_reply"}),
                sample("qianjia_sla_breaches_total", {"kind": "first_reply"}))

    before = counts()
    first = escalation.escalate_overdue_tickets(sessions=runtime.sessions, cfg=config, now=later)
    after = counts()
    again = escalation.escalate_overdue_tickets(sessions=runtime.sessions,
                                                cfg=config, now=FixedClock(later).now())
    assert first.fired >= 2 and again.fired == 0
    assert after[0] - before[0] == 1  # first_reply_warning (4 h before the deadline)
    assert after[1] - before[1] == first.fired - 1  # the breach level(s) due by now
    assert counts() == after
