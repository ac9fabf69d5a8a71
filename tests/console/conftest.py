"""Console fixtures: the fake WeChat API on loopback, a small bank (branches, staff of every
role), a ticket factory, and a `StaffClient` that signs in through the real login form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.fake_wechat import FakeWeChatServer
from core.config import Config
from core.db import transaction
from models import AuditLog, Channel, Staff, Ticket, TicketEvent
from services.branches import upsert_branches
from services.customers import get_or_create_customer, touch
from services.staff import create_staff
from services.tickets import Classification, submit_feedback
from tests.conftest import TEST_SECRETS, clean_tables, make_config

PASSWORD = "correct horse battery"

# Cheap argon2 parameters keep the suite fast; production costs come from config.yaml.
CONSOLE_OVERRIDES: dict[str, Any] = {
    "console.password_hashing.time_cost": 1,
    "console.password_hashing.memory_kib": 1024,
    "console.password_hashing.parallelism": 1,
    "console.cookie_secure": False,
    "console.simulator.enabled": True,
    "wechat.templates.service_update": "TM_TEST_SERVICE_UPDATE",
    "wechat.templates.improvement_notice": "TM_TEST_IMPROVEMENT_NOTICE",
    # The database token store opens its own connection, which SQLite blocks while a write transaction
    # is open; issue 4's resolution check sends inside one. The console's own reply path is tested with
    # the database store too (test_ticket_actions.test_reply_with_the_database_token_store).
    "wechat.token_cache": "memory",
}

BRANCHES = [
    {"code": "RMR", "name": "千佳银行人民路支行营业部", "aliases": ["人民路支行"]},
    {"code": "CDB", "name": "千佳银行城东营业部", "aliases": ["城东营业部"]},
    {"code": "KFQ", "name": "千佳银行开发区支行营业部", "aliases": ["开发区支行"]},
]


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(app_id=TEST_SECRETS["wechat.app_id"], app_secret=TEST_SECRETS["wechat.app_secret"]) as fake:
        yield fake


def console_config(db_url: str, model_dir: Path, fake: FakeWeChatServer, **extra: Any) -> Config:
    return make_config(db_url, model_dir, **{**CONSOLE_OVERRIDES, "wechat.api_base_url": fake.url, **extra})


@pytest.fixture
def config(db_url: str, model_dir: Path, fake_wechat: FakeWeChatServer) -> Config:
    """Overrides the shared `config`: clean tables, the fake WeChat API, cheap hashing."""
    clean_tables(db_url)
    fake_wechat.reset()
    return console_config(db_url, model_dir, fake_wechat)


@dataclass
class Bank:
    """Branches and one staff member per role, plus a ticket factory."""

    runtime: Any
    now: datetime
    staff_ids: dict[str, int] = field(default_factory=dict)
    _seq: int = 0

    def session(self) -> Any:
        return transaction(self.runtime.sessions)

    def staff(self, session: Any, username: str) -> Staff:
        return session.scalars(select(Staff).where(Staff.username == username)).one()

    def add_staff(self, username: str, role: str, *, team: str | None = None, branches: tuple[str, ...] = (),
                  password: str = PASSWORD) -> None:
        with self.session() as s:
            staff = create_staff(s, cfg=self.runtime.cfg, username=username, password=password, role=role,
                                 team=team, branch_codes=branches, now=self.now, actor="test",
                                 display_name=username.title())
            self.staff_ids[username] = staff.id

    def ticket(self, *, team: str | None = "branch_ops", branch: str | None = "RMR", category: str = "wait_time",
               text: str = "排队等了很久，只开了一个窗口", openid: str | None = None, needs_triage: bool = False,
               priority: str = "normal", created_at: datetime | None = None, in_window: bool = True,
               channel: Channel = Channel.WECHAT) -> str:
        """Create a ticket the way the webhook does (without the classifier); returns its number."""
        self._seq += 1
        at = created_at or self.now
        with self.session() as s:
            customer = None
            if openid is not None or channel is Channel.WECHAT:
                customer = get_or_create_customer(s, openid=openid or f"oTestCustomer{self._seq:015d}", now=at)
                touch(customer, now=at if in_window else at - timedelta(days=3))
            ticket = submit_feedback(s, customer=customer, channel=channel, now=at, cfg=self.runtime.cfg,
                                     classification=Classification(
                                         text=text, type="complaint", type_confidence=0.9, category=category,
                                         category_confidence=0.3 if needs_triage else 0.9, priority=priority,
                                         team=None if needs_triage else team, needs_triage=needs_triage,
                                         branch_code=branch))
            return str(ticket.number)

    def get(self, number: str) -> Ticket:
        with self.runtime.sessions() as s:
            return s.scalars(select(Ticket).where(Ticket.number == number)).one()

    def count(self, model: Any, *where: Any) -> int:
        with self.runtime.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def history(self) -> tuple[int, int]:
        """(ticket events, audit rows): an action that was refused leaves both unchanged."""
        return self.count(TicketEvent), self.count(AuditLog)


@pytest.fixture
def bank(runtime: Any) -> Bank:
    """RMR/CDB/KFQ; agent (branch_ops), carder (card_center), triager (feedback), manager (RMR), admin."""
    world = Bank(runtime=runtime, now=runtime.clock.now())
    with world.session() as s:
        upsert_branches(s, rows=BRANCHES, now=world.now)
    world.add_staff("agent", "agent", team="branch_ops")
    world.add_staff("carder", "agent", team="card_center")
    world.add_staff("triager", "agent", team="feedback")
    world.add_staff("manager", "manager", branches=("RMR",))
    world.add_staff("admin", "admin")
    return world


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffClient:
    """A staff member using the console through the Flask test client (CSRF token taken from pages)."""

    def __init__(self, client: Any, prefix: str = "/console") -> None:
        self.client = client
        self.prefix = prefix
        self.csrf = ""

    def _remember(self, resp: Any) -> Any:
        found = CSRF.search(resp.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self._remember(self.client.get(self.prefix + path, **kw))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return self._remember(self.client.post(self.prefix + path, data=form, **kw))

    def login(self, username: str, password: str = PASSWORD) -> Any:
        self.get("/login")
        return self.post("/login", {"username": username, "password": password})


@pytest.fixture
def staff_client(app: Any) -> Any:
    """A factory: staff_client("agent") is signed in as agent (its own cookie jar)."""
    def make(username: str | None = None) -> StaffClient:
        user = StaffClient(app.test_client())
        if username:
            resp = user.login(username)
            assert resp.status_code == 302, resp.get_data(as_text=True)
        return user

    return make


@pytest.fixture
def warm_analyzer(runtime: Any) -> Any:
    """Load the classifier before any request transaction, as `qianjia serve` does at start-up
    (loading it reads stored corrections on a connection of its own)."""
    return runtime.analyzer
