"""Database down: the webhook answers non-2xx (WeChat retries) and stores the retry exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.simulator import flask_transport
from core.db import normalize_url
from models import InboundDedup, Ticket
from tests.conftest import IS_POSTGRES, clean_tables, make_config, wechat_user_for
from tests.support.tcpproxy import TcpProxy


def _tickets(runtime: Any) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


def _outage_then_retry(runtime: Any, app: Any, cfg: Any, cut: Any, restore: Any) -> None:
    user = wechat_user_for(cfg, flask_transport(app.test_client()))
    runtime.analyzer  # noqa: B018  (load the model before the outage)
    cut()
    first = user.send_text("网点空调坏了，热得受不了", msg_id="5550001")
    assert first.status == 503 and "database" in first.body
    restore()
    retry = user.send_text("网点空调坏了，热得受不了", msg_id="5550001")
    assert retry.status == 200 and "工单号" in retry.text
    again = user.send_text("网点空调坏了，热得受不了", msg_id="5550001")
    assert again.text == retry.text
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        assert s.scalar(select(func.count()).select_from(InboundDedup)) == 1


@pytest.mark.skipif(not IS_POSTGRES, reason="a TCP-level outage needs PostgreSQL; the SQLite variant runs instead")
def test_postgres_outage(db_url: str, model_dir: Path) -> None:
    clean_tables(db_url)
    url = make_url(normalize_url(db_url))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        cfg = make_config(proxied, model_dir, **{"wechat.mode": "safe"})
        app = create_app(cfg)
        runtime = app.extensions["qianjia.runtime"]
        _outage_then_retry(runtime, app, cfg, proxy.cut, proxy.restore)
    finally:
        proxy.close()
        from core.db import get_engine

        get_engine(proxied).dispose()


def test_sqlite_file_gone(tmp_path: Path, model_dir: Path) -> None:
    """Runs on every backend: it uses a SQLite file of its own."""
    db_file = tmp_path / "down.db"
    url = f"sqlite:///{db_file}"
    from core.db import get_engine, upgrade

    engine = get_engine(url)
    upgrade(engine)
    cfg = make_config(url, model_dir)
    app = create_app(cfg)
    runtime = app.extensions["qianjia.runtime"]
    moved = tmp_path / "moved.db"

    def cut() -> None:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{db_file}{suffix}").exists():
                Path(f"{db_file}{suffix}").rename(f"{moved}{suffix}")

    def restore() -> None:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            if Path(f"{moved}{suffix}").exists():
                Path(f"{moved}{suffix}").rename(f"{db_file}{suffix}")

    _outage_then_retry(runtime, app, cfg, cut, restore)
    engine.dispose()
