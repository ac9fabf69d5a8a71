"""Conversation state lives in the database: another worker process continues it, and it expires on time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.simulator import http_transport
from core.clock import SystemClock
from core.config import ROOT, env_name
from models import ConversationState, SurveyResponse
from tests.conftest import TEST_SECRETS
from tests.conversations.conftest import Bank


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def second_worker(db_url: str, model_dir: object, fake_wechat: object, tmp_path: Path
                  ) -> Iterator[Callable[[], str]]:
    """`qianjia serve` in another process on the same database; yields a function returning its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANJIA_")}
    env.update({env_name(k): v for k, v in TEST_SECRETS.items()})
    env.update(DATABASE_URL=db_url, QIANJIA_NLP__MODEL_DIR=str(model_dir),
               QIANJIA_WECHAT__API_BASE_URL=fake_wechat.url,  # type: ignore[attr-defined]
               QIANJIA_WECHAT__TOKEN_CACHE="memory", QIANJIA_LOGGING__LEVEL="WARNING")
    log = tmp_path / "second-worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)

    def url() -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"second worker exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.2)
        raise AssertionError("second worker did not start")

    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_another_worker_process_continues_the_conversation(make_bank: Callable[..., Bank],
                                                           second_worker: Callable[[], str]) -> None:
    bank = make_bank(clock=SystemClock())
    here = bank.chat()
    there = bank.chat(here.openid, post=http_transport(second_worker()))
    assert "1/7" in here.tap("MENU_SURVEY")
    assert "2/7" in here.say("5")
    assert "3/7" in there.say("4")  # the other process knows where this customer is
    assert "4/7" in here.say("4")
    with bank.db() as s:
        response = s.scalars(select(SurveyResponse)).one()
        assert (response.overall, response.aspects) == (5, {"wait_time": 4, "staff_attitude": 4})


def test_state_expires_after_the_idle_time(bank: Bank) -> None:
    chat = bank.chat()
    chat.tap("MENU_SURVEY")
    bank.later(minutes=29)
    assert "2/7" in chat.say("4")  # still waiting: each answer starts the idle time again
    bank.later(minutes=30, seconds=1)
    late = chat.say("5")
    assert "超时" in late and "2/7" not in late and "3/7" not in late
    with bank.db() as s:
        assert s.scalar(select(func.count()).select_from(ConversationState)) == 0
        response = s.scalars(select(SurveyResponse)).one()
        assert (response.overall, response.aspects, response.completed_at) == (4, {}, None)
    # Starting again is possible; the unfinished response is picked up, not duplicated.
    assert "1/7" in chat.tap("MENU_SURVEY")
    assert "2/7" in chat.say("3")
    with bank.db() as s:
        assert s.scalars(select(SurveyResponse.overall)).all() == [3]
