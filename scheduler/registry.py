"""The job registry: name -> job function, description and trigger from config.yaml."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from scheduler import jobs

if TYPE_CHECKING:
    from core.config import Config
    from services.runtime import Runtime

log = logging.getLogger(__name__)

JobFunc = Callable[["Runtime", datetime], Any]

# Issue 4's survey jobs, registered when scheduler/survey_jobs.py exists.
SURVEY_JOBS_MODULE = "scheduler.survey_jobs"
SURVEY_JOB_NAMES = {
    "invite_survey_rounds": "向调查轮次的客户发送满意度调查邀请",
    "checkin_surveys": "向到店客户发送回访调查",
}


@dataclass(frozen=True)
class Job:
    name: str
    func: JobFunc
    description: str  # for operators (Chinese)
    kind: str  # interval | cron
    seconds: float = 0.0  # interval jobs
    at: time | None = None  # cron jobs: bank-local time of day

    def trigger_text(self) -> str:
        if self.kind == "cron" and self.at is not None:
            return f"每天 {self.at:%H:%M}"
        return f"每 {self.seconds:g} 秒"


def _seconds(cfg: Config, dotted: str, default: float) -> float:
    value = float(cfg.get(dotted, default))
    if value <= 0:
        raise ValueError(f"{dotted} must be positive")
    return value


def _time_of_day(text: str) -> time:
    hours, _, minutes = str(text).strip().partition(":")
    return time(int(hours), int(minutes or 0))


def registered_jobs(cfg: Config) -> dict[str, Job]:
    """Every job this installation knows, enabled or not, by name."""
    registry = [
        Job("escalate_overdue_tickets", jobs.escalate_overdue_tickets, "扫描到期工单，按级别发出超时预警与升级",
            "interval", _seconds(cfg, "escalation.interval_seconds", 60)),
        Job("deliver_notifications", jobs.deliver_notifications, "发送（并重试）给反馈小组的通知",
            "interval", _seconds(cfg, "notifications.interval_seconds", 30)),
        Job("dispatch_notices", jobs.dispatch_notices, "向客户发送服务改进公告",
            "interval", _seconds(cfg, "notices.interval_seconds", 30)),
        Job("send_daily_digest", jobs.send_daily_digest, "每天给各小组发送工单简报",
            "cron", at=_time_of_day(str(cfg.get("digest.time", "08:30")))),
        Job("retention", jobs.apply_retention, "按保留策略匿名化旧文本、清除久已取消关注的客户、删除过期去重记录和 API 幂等、限流记录",
            "cron", at=_time_of_day(str(cfg.get("retention.time", "03:30")))),
    ]
    registry.extend(_survey_jobs(cfg))
    return {job.name: job for job in registry}


def _survey_jobs(cfg: Config) -> list[Job]:
    try:
        module = importlib.import_module(SURVEY_JOBS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != SURVEY_JOBS_MODULE:
            raise
        log.debug("%s is not there yet: survey jobs not registered", SURVEY_JOBS_MODULE)
        return []
    seconds = _seconds(cfg, "scheduler.survey_interval_seconds", 300)
    return [
        Job(name, getattr(module, name), description, "interval", seconds)
        for name, description in SURVEY_JOB_NAMES.items()
        if callable(getattr(module, name, None))
    ]


def enabled_jobs(cfg: Config) -> list[Job]:
    disabled = set(cfg.get("scheduler.disabled_jobs") or [])
    return [job for name, job in registered_jobs(cfg).items() if name not in disabled]
