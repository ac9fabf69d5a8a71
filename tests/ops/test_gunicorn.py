"""Production topology on loopback: gunicorn nodes (real processes) sharing one database.

- Prometheus multiprocess mode: every scrape, whichever worker serves it, adds up all workers.
- Scale-out: the same WeChat delivery reaching two nodes at once is stored exactly once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from bot.simulator import http_transport
from core.config import ROOT, env_name
from core.metrics import parse
from models import InboundDedup, Message
from tests.conftest import TEST_SECRETS, wechat_user_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One web node: gunicorn with deploy/gunicorn.conf.py, as systemd would start it."""

    def __init__(self, db_url: str, model_dir: Path, tmp: Path, workers: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QIANJIA_", "PROMETHEUS_"))}
        env.update({env_name(k): v for k, v in TEST_SECRETS.items()})
        env.update({
            "DATABASE_URL": db_url, env_name("nlp.model_dir"): str(model_dir),
            "QIANJIA_BIND": f"127.0.0.1:{self.port}", "QIANJIA_WEB_WORKERS": str(workers),
            "QIANJIA_WEB_THREADS": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"prom-{self.port}"),
            "QIANJIA_LOGGING__LEVEL": "WARNING",
        })
        self.log = open(tmp / f"gunicorn-{self.port}.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "bot.wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise AssertionError("gunicorn exited:\n" + self.log.read()[-3000:])
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.url}/readyz never answered 200")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def nodes(config: Any, db_url: str, model_dir: Path, tmp_path: Path) -> Iterator[list[Node]]:
    started = [Node(db_url, model_dir, tmp_path, workers=2), Node(db_url, model_dir, tmp_path, workers=1)]
    try:
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.stop()


def _ready_workers(node: Node, want: int) -> set[int]:
    """Hit /readyz concurrently until `want` worker pids have answered 200 (each loaded its model)."""
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(4) as pool:
        while len(pids) < want and time.monotonic() < deadline:
            answers = list(pool.map(lambda _: requests.get(node.url + "/readyz", timeout=5), range(8)))
            for resp in answers:
                if resp.status_code == 200:
                    pids.add(requests.get(node.url + "/healthz", timeout=5).json()["checks"]["process"]["pid"])
    return pids


def test_metrics_add_up_across_workers_and_nodes_share_the_database(nodes: list[Node], config: Any,
                                                                     runtime: Any) -> None:
    node_a, node_b = nodes
    assert len(_ready_workers(node_a, 2)) == 2
    messages = 16
    users = [wechat_user_for(config, http_transport(node_a.url), f"o{uuid.uuid4().hex[:27]}") for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda i: users[i % 4].send_text(f"第{i}条：网点排队时间太长，希望多开窗口"),
                                range(messages)))
    assert all(r.status == 200 for r in replies)
    scrapes = [dict(((n, tuple(sorted(lb.items()))), v) for n, lb, v in parse(requests.get(node_a.url + "/metrics",
                                                                                       timeout=5).text))
               for _ in range(6)]
    for samples in scrapes:
        assert samples[("qianjia_inbound_messages_total", (("type", "text"),))] == messages
        assert samples[("qianjia_webhook_request_duration_seconds_count", (("status", "200"),))] == messages

    # A delivery WeChat retries onto the other node while the first is still working on it.
    same = wechat_user_for(config, http_transport(node_a.url), f"o{uuid.uuid4().hex[:27]}")
    on_b = wechat_user_for(config, http_transport(node_b.url), same.openid)
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda u: u.send_text("柜台只开一个窗口，等了四十分钟", msg_id="7700123"), (same, on_b))
    assert a.status == b.status == 200 and a.text == b.text and "工单号" in a.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)
                              .where(Message.wechat_msg_id == "7700123")) == 1
        assert session.scalar(select(func.count()).select_from(InboundDedup)) == messages + 1
