"""Browser tests: Debian's headless Chromium driven by Playwright against a live server on loopback.

Without a browser (or without the playwright package) these tests skip with the reason; with
CI=true they fail instead, so a CI run cannot pass by silently skipping them.
Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import ROOT
from tests.conftest import LiveServer

# The console's fixtures: the fake WeChat API, the console config, the small bank with staff of every role.
from tests.console.conftest import bank, config, fake_wechat  # noqa: F401

CHROMIUM = os.environ.get("QIANJIA_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def _unavailable(reason: str) -> None:
    message = (f"浏览器测试无法运行：{reason}。安装方法：apt-get install -y chromium；"
               f".venv/bin/pip install playwright（不需要 playwright install）")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "（CI=true：不允许跳过）", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("没有安装 Python 包 playwright")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"找不到 Chromium（{CHROMIUM}）")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_console(app: Any, runtime: Any) -> Iterator[LiveServer]:
    runtime.analyzer  # noqa: B018  (loaded before the first request, as `qianjia serve` does)
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
