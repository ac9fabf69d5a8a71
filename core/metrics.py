"""Prometheus metrics: the definitions, the one-line hooks the app calls, and the scrape.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped at start by
deploy/gunicorn.conf.py) before the workers start: prometheus-client then keeps each
worker's values in files there and a scrape, served by any worker, adds them up.
Gauges that describe the database (tickets by status) are not kept per process: the
scraping process computes them with one GROUP BY (`DatabaseCollector`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

PREFIX = "qianjia"

# WeChat gives up on the webhook after 5 s; the buckets resolve the range that matters.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)

# Label values are bounded: anything else WeChat may send is counted as "other".
MESSAGE_TYPES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "file"})
EVENT_TYPES = frozenset({"subscribe", "unsubscribe", "scan", "click", "view", "location",
                         "templatesendjobfinish", "masssendjobfinish"})

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # A process started before gunicorn created the directory must not crash on its first metric.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

INBOUND_MESSAGES = Counter(
    f"{PREFIX}_inbound_messages_total",
    "WeChat deliveries processed for the first time, by message type (events as event_<name>).",
    ["type"],
)
INBOUND_DUPLICATES = Counter(
    f"{PREFIX}_inbound_duplicates_total",
    "WeChat retries answered from the dedup record instead of being processed again.",
)
WEBHOOK_DURATION = Histogram(
    f"{PREFIX}_webhook_request_duration_seconds",
    "Time to answer a WeChat webhook request, by HTTP status.",
    ["status"],
    buckets=LATENCY_BUCKETS,
)
CLASSIFICATION_DURATION = Histogram(
    f"{PREFIX}_classification_duration_seconds",
    "Time to redact and classify one customer text.",
    buckets=LATENCY_BUCKETS,
)
SLA_WARNINGS = Counter(
    f"{PREFIX}_sla_warnings_total",
    "Warnings sent before an SLA deadline, by deadline kind.",
    ["kind"],
)
SLA_BREACHES = Counter(
    f"{PREFIX}_sla_breaches_total",
    "SLA deadlines missed (escalations fired), by deadline kind.",
    ["kind"],
)
NOTICES = Counter(
    f"{PREFIX}_notices_total",
    "Customer notices (improvement notices, service updates) by outcome.",
    ["outcome"],
)
WECHAT_API_ERRORS = Counter(
    f"{PREFIX}_wechat_api_errors_total",
    "Errors from the WeChat API (including network errors as -1), by API and errcode.",
    ["api", "errcode"],
)
JOB_RUNS = Counter(
    f"{PREFIX}_scheduler_job_runs_total",
    "Scheduler job runs, by job and outcome (ok | failed | skipped).",
    ["job", "outcome"],
)
JOB_FAILURES = Counter(
    f"{PREFIX}_scheduler_job_failures_total",
    "Scheduler job runs that raised, by job.",
    ["job"],
)
JOB_DURATION = Histogram(
    f"{PREFIX}_scheduler_job_duration_seconds",
    "Scheduler job run time, by job.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
RETENTION_ROWS = Counter(
    f"{PREFIX}_retention_rows_total",
    "Rows changed by the retention policy and data-subject erasure, by table and action.",
    ["table", "action"],
)


# -- hooks (one line at the call site) ----------------------------------------------------


def inbound_type_label(msg_type: str, event: str | None = None) -> str:
    if msg_type == "event":
        name = (event or "").lower()
        return f"event_{name}" if name in EVENT_TYPES else "event_other"
    return msg_type if msg_type in MESSAGE_TYPES else "other"


def record_inbound(inbound: Any, *, duplicate: bool) -> None:
    """A delivery went through the pipeline: count it by type, or as a dedup hit."""
    if duplicate:
        INBOUND_DUPLICATES.inc()
    else:
        INBOUND_MESSAGES.labels(inbound_type_label(inbound.msg_type, inbound.event)).inc()


def record_wechat_api_error(errcode: int, api: str | None) -> None:
    WECHAT_API_ERRORS.labels(api or "-", str(errcode)).inc()


def record_sla(kind: str, *, warning: bool) -> None:
    """An SLA warning (before the deadline) or breach (escalation) for deadline `kind`."""
    (SLA_WARNINGS if warning else SLA_BREACHES).labels(kind).inc()


def record_notice(outcome: str) -> None:
    NOTICES.labels(outcome).inc()


def record_notice_stats(stats: Any) -> None:
    """Outcomes of one notice dispatcher run (services.outbox.DispatchStats)."""
    for outcome in ("sent", "failed", "retry", "unknown"):
        if getattr(stats, outcome, 0):
            NOTICES.labels(outcome).inc(getattr(stats, outcome))


def record_job(job: str, *, seconds: float, outcome: str) -> None:
    """One scheduler job run: outcome ok | failed | skipped (backing off: not timed)."""
    JOB_RUNS.labels(job, outcome).inc()
    if outcome != "skipped":
        JOB_DURATION.labels(job).observe(seconds)
    if outcome == "failed":
        JOB_FAILURES.labels(job).inc()


def record_retention(table: str, action: str, rows: int) -> None:
    if rows:
        RETENTION_ROWS.labels(table, action).inc(rows)


# -- scrape -------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class DatabaseCollector(Collector):
    """Tickets by status and database reachability, computed when scraped."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterable[Metric]:
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        from models import Ticket, TicketStatus

        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 if the scrape could query the database.")
        tickets = GaugeMetricFamily(f"{PREFIX}_tickets", "Tickets by status (computed at scrape time).",
                                    labels=["status"])
        try:
            with self.sessions() as session:
                rows = dict(session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        except SQLAlchemyError as exc:
            log.warning("metrics: ticket counts unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for status in TicketStatus:
            tickets.add_metric([status.value], rows.pop(status.value, 0))
        for status, count in sorted(rows.items()):  # statuses added later than this code
            tickets.add_metric([str(status)], count)
        yield tickets


def _one_shot(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(sessions: sessionmaker[Session] | None = None) -> tuple[bytes, str]:
    """The exposition text for a scrape: this process's (or all workers') metrics + database gauges."""
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if sessions is not None:
        body += generate_latest(_one_shot(DatabaseCollector(sessions)))
    return body, CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """gunicorn child_exit hook: drop a dead worker's live gauges (counters stay summed)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """This process's current value of a sample (0 when absent); for tests and the soak report."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def parse(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) for every sample of an exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            yield s.name, dict(s.labels), s.value


def serve_metrics(cfg: Any) -> Any:
    """Expose /metrics on its own port (the scheduler process, which has no web server).

    Config `metrics.scheduler_port` (0 = off) and `metrics.scheduler_host`. A port already in
    use (a second scheduler on the same host) is logged, not fatal.
    """
    port = int(cfg.get("metrics.scheduler_port", 0) or 0)
    if not port or not cfg.get("metrics.enabled", True):
        return None
    from prometheus_client import start_http_server

    host = str(cfg.get("metrics.scheduler_host", "127.0.0.1"))
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir())
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("metrics: cannot listen on %s:%s (%s); this process's metrics are not exposed", host, port, exc)
        return None
    log.info("metrics on http://%s:%s/metrics", host, port)
    return server
