"""The scheduler's own jobs. Each is three lines: the work lives in services/.

Jobs that send messages run until nothing is due and take per-message times from
`runtime.clock` (a FixedClock under `qianjia jobs run --now`); `now` is the run's start.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import metrics
from core.db import transaction
from services import digest, escalation, notices, notifications, retention

if TYPE_CHECKING:
    from services.runtime import Runtime


def escalate_overdue_tickets(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """End waits for the customer that ran out, then fire due SLA escalation levels (each once per deadline)."""
    ended = escalation.end_expired_waits(sessions=runtime.sessions, cfg=runtime.cfg, now=now)
    result = escalation.escalate_overdue_tickets(sessions=runtime.sessions, cfg=runtime.cfg, now=now).as_dict()
    return {**result, "waits_ended": ended}


def deliver_notifications(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Send queued staff notifications (robot, template message, e-mail), with retries."""
    return notifications.deliver_notifications(runtime=runtime).as_dict()


def dispatch_notices(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Send published improvement notices to customers, exactly once each."""
    stats = notices.dispatch_notices(runtime=runtime)
    metrics.record_notice_stats(stats)
    return stats.as_dict()


def apply_retention(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Apply the retention policy (config retention:; also the API's expired idempotency and rate-limit rows)."""
    return retention.run_retention(sessions=runtime.sessions, cfg=runtime.cfg, now=now).counts


def send_daily_digest(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Queue today's digest for each team (once a day)."""
    with transaction(runtime.sessions) as session:
        return digest.send_daily_digests(session, cfg=runtime.cfg, now=now).as_dict()
