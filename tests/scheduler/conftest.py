"""Fixtures for the scheduler tests: a frozen clock, the fake WeChat API, a real SMTP sink,
and factories that make tickets and customers through the real services."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.fake_wechat import FakeWeChatServer
from core.clock import FixedClock
from core.config import ROOT, Config
from core.db import transaction
from models import Branch, Channel, Customer, Priority, Ticket
from services.tickets import Classification, submit_feedback
from tests.conftest import TEST_SECRETS, clean_tables, make_config

# Saturday 2026-11-28 09:00 in Beijing.
T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)

NOTICE_TEMPLATE = "TM_TEST_IMPROVEMENT"
STAFF_TEMPLATE = "TM_TEST_STAFF"


@dataclass
class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(TEST_SECRETS["wechat.app_id"], TEST_SECRETS["wechat.app_secret"]) as server:
        yield server


def scheduler_overrides(fake: FakeWeChatServer, smtp_port: int | None = None) -> dict[str, Any]:
    """Channels pointed at the fakes: a robot on the fake server, staff openids, e-mail to the sink."""
    return {
        "wechat.api_base_url": fake.url,
        "wechat.token_cache": "memory",
        "wechat.templates.improvement_notice": NOTICE_TEMPLATE,
        "notifications.staff_template_id": STAFF_TEMPLATE,
        "notifications.smtp.host": "127.0.0.1",
        "notifications.smtp.port": smtp_port or 1,
        "notifications.recipients": {
            "default": {
                "team": {"robot": [fake.robot_webhook_url("team-robot")], "emails": ["team@bank.example"]},
                "team_lead": {"openids": ["o-staff-lead"], "emails": ["lead@bank.example"]},
                "branch_manager": {"emails": ["manager@bank.example"]},
            },
        },
        "notices.rate_per_second": 0,
        "notices.max_seconds_per_run": 0,
    }


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def sched_config(db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer, smtp_sink: SmtpSink) -> Config:
    clean_tables(db_url)
    return make_config(db_url, model_dir, **scheduler_overrides(fake_wechat, smtp_sink.port))


@pytest.fixture
def rt(sched_config: Config, clock: FixedClock) -> Any:
    """A runtime on the frozen clock, its WeChat API on the fake server."""
    from services.runtime import build_runtime

    return build_runtime(sched_config, clock=clock)


# -- factories ----------------------------------------------------------------------------


def make_customer(session: Any, *, openid: str | None = None, now: datetime = T0, subscribed: bool = True,
                  last_interaction_at: datetime | None = None) -> Customer:
    customer = Customer(openid=openid, subscribed=subscribed, created_at=now,
                        last_interaction_at=last_interaction_at)
    session.add(customer)
    session.flush()
    return customer


def make_branch(session: Any, code: str = "B001", name: str = "千佳银行人民路支行", now: datetime = T0) -> Branch:
    branch = Branch(code=code, name=name, created_at=now, aliases=[])
    session.add(branch)
    session.flush()
    return branch


def make_ticket(session: Any, rt: Any, *, now: datetime = T0, priority: str = Priority.NORMAL.value,
                team: str | None = "branch_ops", category: str | None = "wait_time", customer: Customer | None = None,
                branch_id: int | None = None, text: str = "人民路支行排队一个多小时，只开了一个窗口") -> Ticket:
    """A ticket created the way the webhook creates one (services.tickets.submit_feedback)."""
    classification = Classification(text=text, type="complaint", type_confidence=0.9, category=category,
                                     category_confidence=0.9, priority=priority, team=team, needs_triage=False)
    return submit_feedback(session, customer=customer, channel=Channel.WECHAT, classification=classification,
                           now=now, cfg=rt.cfg, branch_id=branch_id)


def new_ticket(rt: Any, **kw: Any) -> int:
    with transaction(rt.sessions) as session:
        return make_ticket(session, rt, **kw).id


def subprocess_env(db_url: str, fake: FakeWeChatServer, **extra: str) -> dict[str, str]:
    """Environment for `qianjia` in a child process: the test database and the fake WeChat API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANJIA_")}
    env.update({
        "DATABASE_URL": db_url,
        "QIANJIA_WECHAT__APP_ID": TEST_SECRETS["wechat.app_id"],
        "QIANJIA_WECHAT__APP_SECRET": TEST_SECRETS["wechat.app_secret"],
        "QIANJIA_WECHAT__TOKEN": TEST_SECRETS["wechat.token"],
        "QIANJIA_WECHAT__ENCODING_AES_KEY": TEST_SECRETS["wechat.encoding_aes_key"],
        "QIANJIA_WECHAT__API_BASE_URL": fake.url,
        "QIANJIA_WECHAT__TEMPLATES__IMPROVEMENT_NOTICE": NOTICE_TEMPLATE,
        "QIANJIA_NOTICES__RATE_PER_SECOND": "0",
        "QIANJIA_NOTICES__MAX_SECONDS_PER_RUN": "0",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


QIANJIA = [sys.executable, "-m", "cli.main"]


def later(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)
