"""Fixtures for the operations tests: the fake WeChat API, a configured app, scraping /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fake_wechat import FakeWeChatServer
from core.config import Config, env_name
from core.metrics import parse
from tests.conftest import TEST_SECRETS, make_config


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(TEST_SECRETS["wechat.app_id"], TEST_SECRETS["wechat.app_secret"]) as server:
        yield server


@pytest.fixture
def ops_config(config: Config, fake_wechat: FakeWeChatServer) -> Config:
    """The test config pointed at the fake WeChat API (tables already cleaned by `config`)."""
    return config.with_overrides({"wechat.api_base_url": fake_wechat.url})


def config_for(db_url: str, model_dir: Path, fake: FakeWeChatServer, **overrides: Any) -> Config:
    return make_config(db_url, model_dir, **{"wechat.api_base_url": fake.url, **overrides})


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics through a Flask test client (or a requests-like get) as {(name, labels): value}."""
    resp = client.get("/metrics")
    status = getattr(resp, "status_code", None)
    assert status == 200, status
    text = resp.get_data(as_text=True) if hasattr(resp, "get_data") else resp.text
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in parse(text)}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def cli_env(db_url: str, model_dir: Path, fake: FakeWeChatServer | None = None, **extra: str) -> dict[str, str]:
    """The environment a `qianjia` command run by an operator would have, for CliRunner."""
    env = {env_name(key): value for key, value in TEST_SECRETS.items()}
    env.update({"DATABASE_URL": db_url, env_name("nlp.model_dir"): str(model_dir), "QIANJIA_CONFIG": ""})
    if fake is not None:
        env[env_name("wechat.api_base_url")] = fake.url
    env.update(extra)
    return env
