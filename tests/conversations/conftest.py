"""A bank with branches, the real webhook, a fake WeChat API on loopback and a settable clock;
customers who chat with it like a transcript."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.fake_wechat import FakeWeChatServer
from bot.simulator import SimReply, flask_transport
from core.clock import FixedClock
from core.config import Config
from core.db import transaction
from models import Ticket
from tests.conftest import TEST_SECRETS, clean_tables, make_config, wechat_user_for

# Monday 30 November 2026, 10:00 in Shanghai.
START = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
TICKET_NUMBER = re.compile(r"QJ\d{6}-\d{6}")
TEMPLATE_ID = "TM_TEST_SERVICE_UPDATE"
T = TypeVar("T")


def ticket_number(reply: str) -> str:
    found = TICKET_NUMBER.search(reply)
    assert found, f"no ticket number in: {reply}"
    return found.group(0)


class Chat:
    """One customer in a WeChat chat with the bank: each call sends one message and returns what they see."""

    _create_times = itertools.count(int(time.time()))

    def __init__(self, bank: Bank, openid: str | None = None, *, post: Any = None) -> None:
        self.bank = bank
        self.user = wechat_user_for(bank.cfg, post or flask_transport(bank.client), openid)
        self.openid: str = self.user.openid

    def _seen(self, reply: SimReply) -> str:
        assert reply.status == 200, reply.body
        return reply.text

    def say(self, text: str) -> str:
        return self._seen(self.user.send_text(text))

    def event(self, event: str, key: str | None = None) -> str:
        # Events are deduplicated by user + CreateTime + event: give each its own second, as WeChat would.
        return self._seen(self.user.send_event(event, key, create_time=next(self._create_times)))

    def tap(self, key: str) -> str:
        return self.event("CLICK", key)

    def scan(self, branch_code: str) -> str:
        return self.event("SCAN", branch_code)

    def follow(self, scene: str | None = None) -> str:
        return self.event("subscribe", f"qrscene_{scene}" if scene else None)

    def unfollow(self) -> str:
        return self.event("unsubscribe")

    def send(self, msg_type: str, **fields: str) -> str:
        return self._seen(self.user.send_message(msg_type, fields))

    def inbox(self) -> list[str]:
        """What reached the customer outside the passive replies: customer-service and template messages."""
        out = [m["text"]["content"] for m in self.bank.fake.custom_messages(self.openid)]
        out += [m["data"]["remark"]["value"] for m in self.bank.fake.template_messages(self.openid)]
        return out


class Bank:
    def __init__(self, cfg: Config, app: Any, fake: FakeWeChatServer, clock: Any) -> None:
        self.cfg = cfg
        self.app = app
        self.client = app.test_client()
        self.runtime = app.extensions["qianjia.runtime"]
        self.fake = fake
        self.clock = clock

    def chat(self, openid: str | None = None, *, post: Any = None) -> Chat:
        return Chat(self, openid, post=post)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A transaction on the bank's database (what staff or the scheduler would do)."""
        with transaction(self.runtime.sessions) as session:
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        with self.db() as session:
            return work(session)

    def ticket(self, number: str) -> Ticket:
        with self.runtime.sessions() as s:
            ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
            s.expunge(ticket)
            return ticket

    def later(self, **delta: float) -> datetime:
        return self.clock.advance(timedelta(**delta))


def bank_config(db_url: str, model_dir: Any, fake: FakeWeChatServer, **overrides: Any) -> Config:
    return make_config(db_url, model_dir, **{
        "wechat.api_base_url": fake.url,
        # Services send inside the caller's transaction; on SQLite the database token store would wait
        # for that transaction's write lock (reported to the foundation), so tests keep the token in memory.
        "wechat.token_cache": "memory",
        "wechat.templates.service_update": TEMPLATE_ID,
        **overrides,
    })


def seed_branches(runtime: Any) -> None:
    from services.branches import load_branch_file, upsert_branches

    with transaction(runtime.sessions) as session:
        upsert_branches(session, rows=load_branch_file(), now=START)


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(TEST_SECRETS["wechat.app_id"], TEST_SECRETS["wechat.app_secret"]) as fake:
        yield fake


@pytest.fixture
def make_bank(db_url: str, model_dir: Any, fake_wechat: FakeWeChatServer) -> Callable[..., Bank]:
    """A fresh bank (clean tables, demo branches) on a fixed clock; keyword arguments override config keys."""
    from bot.app import create_app
    from services.runtime import build_runtime

    def make(clock: Any = None, **overrides: Any) -> Bank:
        clean_tables(db_url)
        fake_wechat.reset()
        clock = clock or FixedClock(START)
        cfg = bank_config(db_url, model_dir, fake_wechat, **overrides)
        runtime = build_runtime(cfg, clock=clock)
        seed_branches(runtime)
        app = create_app(runtime=runtime)
        app.config["TESTING"] = True
        return Bank(cfg, app, fake_wechat, clock)

    return make


@pytest.fixture
def bank(make_bank: Callable[..., Bank]) -> Bank:
    return make_bank()
