"""Fixtures for the APP API: keys made by the real service, an app user that signs its
requests like the bank's app, and the contract check on every API response."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from core.clock import Clock, SystemClock
from core.db import transaction
from services import apikeys
from tests.api.contract import ContractChecker

# Test keys get a high limit so only the rate-limit tests ever meet it.
TEST_RATE_LIMIT = 100_000


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        return self.json["error"]  # type: ignore[no-any-return]


Transport = Callable[[str, str, dict[str, str], bytes | None], Reply]


def flask_transport(client: Any) -> Transport:
    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        resp = client.open(path, method=method, headers=headers, data=body)
        return Reply(resp.status_code, dict(resp.headers), resp.get_data())

    return send


def http_transport(base_url: str) -> Transport:
    http = requests.Session()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        resp = http.request(method, base_url + path, headers=headers, data=body, timeout=60)
        return Reply(resp.status_code, dict(resp.headers), resp.content)

    return send


@dataclass
class AppUser:
    """A customer of the bank's app: the app signs their id with the key's signing secret."""

    send: Transport
    key: apikeys.IssuedKey
    customer_id: str
    clock: Clock = field(default_factory=SystemClock)

    def auth_headers(self, *, customer_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        cid = self.customer_id if customer_id is None else customer_id
        ts = str(int(self.clock.now().timestamp()) if timestamp is None else timestamp)
        return {
            "Authorization": f"Bearer {self.key.api_key}",
            "X-Customer-Id": cid,
            "X-Customer-Timestamp": ts,
            "X-Customer-Signature": apikeys.customer_signature(self.key.signing_secret, cid, ts),
        }

    def request(self, method: str, path: str, *, json_body: Any = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None, idempotency_key: str | None = None,
                signed: bool = True) -> Reply:
        all_headers = self.auth_headers() if signed else {}
        body = raw
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        if method == "POST":
            all_headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        all_headers.update(headers or {})
        return self.send(method, "/api/v1" + path, all_headers, body)

    def submit(self, text: str = "人民路支行排队等了两个小时，只开了一个窗口", *, client_id: str | None = None,
               idempotency_key: str | None = None, **fields: Any) -> Reply:
        body = {"text": text, "client_id": client_id or uuid.uuid4().hex, **fields}
        return self.request("POST", "/feedback", json_body=body, idempotency_key=idempotency_key)

    def tickets(self, **query: Any) -> Reply:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return self.request("GET", "/tickets" + (f"?{qs}" if qs else ""))

    def ticket(self, number: str) -> Reply:
        return self.request("GET", f"/tickets/{number}")

    def reply(self, number: str, text: str, *, idempotency_key: str | None = None) -> Reply:
        return self.request("POST", f"/tickets/{number}/replies", json_body={"text": text},
                            idempotency_key=idempotency_key)


def issue_key(runtime: Any, name: str | None = None, **kw: Any) -> apikeys.IssuedKey:
    kw.setdefault("rate_limit_per_minute", TEST_RATE_LIMIT)
    with transaction(runtime.sessions) as session:
        return apikeys.create_api_client(session, name=name or f"k{uuid.uuid4().hex[:8]}", now=runtime.clock.now(),
                                         **kw)


@pytest.fixture(autouse=True)
def contract(app: Any) -> Iterator[ContractChecker]:
    """Checks every /api/ response of the test against the served OpenAPI document."""
    checker = ContractChecker(app.extensions["qianjia.api"].document)
    checker.install(app)
    yield checker
    assert checker.failures == [], "responses that break the OpenAPI document:\n" + "\n".join(checker.failures)


@pytest.fixture
def app_for(contract: ContractChecker) -> Callable[..., Any]:
    """Another app (another "process") over the same database, its responses checked too."""

    def make(config: Any, *, clock: Clock | None = None) -> Any:
        from bot.app import create_app
        from services.runtime import build_runtime

        other = create_app(runtime=build_runtime(config, clock=clock))
        other.config["TESTING"] = True
        contract.install(other)
        return other

    return make


@pytest.fixture
def api_key(runtime: Any) -> apikeys.IssuedKey:
    return issue_key(runtime, "ios")


@pytest.fixture
def app_user(client: Any, api_key: apikeys.IssuedKey) -> Callable[..., AppUser]:
    """A factory of app customers talking through the Flask test client (same key unless given)."""

    def make(customer_id: str | None = None, *, key: apikeys.IssuedKey | None = None) -> AppUser:
        return AppUser(flask_transport(client), key or api_key, customer_id or f"u{uuid.uuid4().hex[:12]}")

    return make
