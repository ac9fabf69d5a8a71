"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with DATABASE_URL),
a runtime and app per test, WeChat users that sign and encrypt real XML, a live server,
and the fake WeChat API server."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.config import ROOT, Config, load_config
from core.db import dispose_engines, get_engine, normalize_url, upgrade
from models import Base

TEST_SECRETS = {
    "wechat.token": "qianjia-test-token",
    "wechat.encoding_aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "wechat.app_id": "wxtest0000qianjia",
    "wechat.app_secret": "test-app-secret",
    "console.secret_key": "test-console-secret",
}

IS_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")

requires_postgres = pytest.mark.skipif(not IS_POSTGRES, reason="needs DATABASE_URL pointing at PostgreSQL")


def _create_pg_database(base_url: str) -> str:
    """A private database per test run, so concurrent runs never share tables."""
    url = make_url(normalize_url(base_url))
    name = f"qj_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(base_url: str, test_url: str) -> None:
    name = make_url(test_url).database
    admin = create_engine(make_url(normalize_url(base_url)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):
        url = _create_pg_database(base)
        upgrade(get_engine(url))
        yield url
        dispose_engines()
        _drop_pg_database(base, url)
    else:
        path = tmp_path_factory.mktemp("db") / "qianjia-test.db"
        url = f"sqlite:///{path}"
        upgrade(get_engine(url))
        yield url
        dispose_engines()


def clean_tables(url: str) -> None:
    engine = get_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The trained classifier, cached once for every test run in the repo's var/.

    Loaded (on a fresh clone: trained) here, before any test starts a bot: a webhook whose model is still
    training defers its answer, so a test run that starts with a conversation would otherwise see empty replies.
    """
    from nlp import load_or_train

    path = ROOT / "var" / "model"
    load_or_train(path)
    return path


def make_config(db_url: str, model_dir: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        **TEST_SECRETS,
        "database.url": db_url,
        "nlp.model_dir": str(model_dir),
        "wechat.mode": "safe",
    }
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(environ={}, overrides=values)


@pytest.fixture
def config(db_url: str, model_dir: Path) -> Config:
    clean_tables(db_url)
    return make_config(db_url, model_dir)


@pytest.fixture
def runtime(config: Config) -> Any:
    from services.runtime import build_runtime

    return build_runtime(config)


@pytest.fixture
def app(runtime: Any) -> Any:
    from bot.app import create_app

    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def wechat_user_for(cfg: Config, post: Any, openid: str | None = None, **kw: Any) -> Any:
    from bot.simulator import WeChatUser

    return WeChatUser(
        post,
        openid=openid or f"o{uuid.uuid4().hex[:27]}",
        token=cfg.get("wechat.token"),
        mode=kw.pop("mode", cfg.get("wechat.mode")),
        encoding_aes_key=kw.pop("encoding_aes_key", cfg.get("wechat.encoding_aes_key")),
        app_id=kw.pop("app_id", cfg.get("wechat.app_id")),
        **kw,
    )


@pytest.fixture
def wechat_user(config: Config, client: Any) -> Any:
    """A factory of simulated WeChat users talking to the app through the Flask test client."""
    from bot.simulator import flask_transport

    def make(openid: str | None = None, **kw: Any) -> Any:
        return wechat_user_for(config, flask_transport(client), openid, **kw)

    return make


class LiveServer:
    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
