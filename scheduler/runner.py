"""Run the registered jobs with APScheduler 3, in their own process or inside `qianjia serve`.

Every job runs through a `GuardedJob`: an exception (the database gone away, WeChat down,
a bug) is logged and the job backs off (doubling, capped) instead of taking the scheduler
down; the next success resets the back-off. APScheduler coalesces missed runs and never
runs one job twice at once in a process; across processes the jobs themselves are safe
(unique keys and row claims), so several schedulers may run side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core import metrics
from core.logging import log_context
from scheduler.registry import Job, enabled_jobs

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from services.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class GuardedJob:
    """One job with error isolation and back-off; call it to run the job once (if not backing off)."""

    job: Job
    runtime: Runtime
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    monotonic: Callable[[], float] = time.monotonic
    failures: int = 0
    last_result: Any = None
    last_error: str | None = None
    _not_before: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self) -> None:
        with self._lock, log_context(job=self.job.name, ticket=None):
            if self.monotonic() < self._not_before:
                log.debug("job %s backing off", self.job.name)
                metrics.record_job(self.job.name, seconds=0.0, outcome="skipped")
                return
            started = self.monotonic()
            try:
                self.last_result = self.job.func(self.runtime, self.runtime.clock.now())
            except Exception as exc:
                self.failures += 1
                delay = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** (self.failures - 1))
                self._not_before = self.monotonic() + delay
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.error("job %s failed (%d in a row), next try in %.0f s: %s", self.job.name, self.failures,
                          delay, self.last_error, exc_info=not _is_database_error(exc))
                metrics.record_job(self.job.name, seconds=self.monotonic() - started, outcome="failed")
                return
            self.failures, self._not_before, self.last_error = 0, 0.0, None
            metrics.record_job(self.job.name, seconds=self.monotonic() - started, outcome="ok")
            log.info("job %s done in %.2f s: %s", self.job.name, self.monotonic() - started, self.last_result)


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, (OperationalError, DBAPIError))


def guarded_jobs(runtime: Runtime) -> list[GuardedJob]:
    cfg = runtime.cfg
    return [
        GuardedJob(job, runtime, backoff_seconds=float(cfg.get("scheduler.backoff_seconds", 5)),
                   backoff_max_seconds=float(cfg.get("scheduler.backoff_max_seconds", 300)))
        for job in enabled_jobs(cfg)
    ]


def build_scheduler(runtime: Runtime, *, blocking: bool) -> tuple[BaseScheduler, list[GuardedJob]]:
    """An APScheduler with every enabled job; interval jobs start at once (catch-up after downtime)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    tz = runtime.tz
    scheduler_cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_cls(
        timezone=tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    guarded = guarded_jobs(runtime)
    now = datetime.now(tz)
    for item in guarded:
        job = item.job
        if job.kind == "cron" and job.at is not None:
            # A digest missed while the scheduler was down goes out at start, once (the job is idempotent
            # per day); before today's time it simply waits for it.
            first = now if now.time() >= job.at else None
            scheduler.add_job(item, "cron", hour=job.at.hour, minute=job.at.minute, id=job.name, name=job.name,
                              misfire_grace_time=3600, **({"next_run_time": first} if first else {}))
        else:
            scheduler.add_job(item, "interval", seconds=job.seconds, id=job.name, name=job.name,
                              next_run_time=now + timedelta(seconds=1))
    return scheduler, guarded
