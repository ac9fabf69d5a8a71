"""/healthz and /readyz: JSON bodies, 200 only when every readiness check passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import create_app
from core.db import get_engine, upgrade
from tests.conftest import make_config


def test_healthz_answers_without_touching_dependencies(db_url: str, model_dir: Path) -> None:
    cfg = make_config("postgresql://nobody@127.0.0.1:1/nowhere", model_dir)
    resp = create_app(cfg).test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok"


def test_readyz_says_loading_until_the_model_is_loaded_then_ok(app: Any, runtime: Any) -> None:
    client = app.test_client()
    resp = client.get("/readyz")
    body = resp.get_json()
    assert resp.status_code == 503 and body["status"] == "fail"
    assert body["checks"]["model"]["status"] == "loading"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["migrations"]["status"] == "ok"
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    assert not runtime.analyzer_loaded, "readyz must not load (or train) the model itself"
    runtime.analyzer  # noqa: B018
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"status": "ok", "checks": resp.get_json()["checks"]}
    assert {c["status"] for c in resp.get_json()["checks"].values()} == {"ok"}


def test_readyz_fails_when_the_database_is_unreachable(model_dir: Path) -> None:
    cfg = make_config("postgresql://nobody@127.0.0.1:1/nowhere", model_dir)
    app = create_app(cfg)
    resp = app.test_client().get("/readyz")
    checks = resp.get_json()["checks"]
    assert resp.status_code == 503
    assert checks["database"]["status"] == "fail"
    assert "DATABASE_URL" in checks["database"]["hint"]
    assert "nobody" not in resp.get_data(as_text=True)  # no connection string in the answer


def test_readyz_fails_while_migrations_are_behind(tmp_path: Path, model_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = get_engine(url)
    upgrade(engine, "0001")
    app = create_app(make_config(url, model_dir))
    app.extensions["qianjia.runtime"].analyzer  # noqa: B018
    resp = app.test_client().get("/readyz")
    migrations = resp.get_json()["checks"]["migrations"]
    assert resp.status_code == 503
    assert migrations["status"] == "fail" and migrations["current"] == "0001"
    assert "qianjia db upgrade" in migrations["hint"]
    upgrade(engine)
    assert app.test_client().get("/readyz").status_code == 200
    engine.dispose()


def test_readyz_names_the_missing_wechat_secret(db_url: str, model_dir: Path, config: Any) -> None:
    cfg = make_config(db_url, model_dir, **{"wechat.app_secret": ""})
    app = create_app(cfg)
    app.extensions["qianjia.runtime"].analyzer  # noqa: B018
    resp = app.test_client().get("/readyz")
    creds = resp.get_json()["checks"]["wechat_credentials"]
    assert resp.status_code == 503
    assert creds["status"] == "fail" and creds["missing"] == ["QIANJIA_WECHAT__APP_SECRET"]


def test_request_id_is_honoured_or_made(client: Any) -> None:
    resp = client.get("/healthz", headers={"X-Request-Id": "lb-1234.abc"})
    assert resp.headers["X-Request-Id"] == "lb-1234.abc"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id; with spaces"}).headers["X-Request-Id"]
    assert made and " " not in made and made != client.get("/healthz").headers["X-Request-Id"]
