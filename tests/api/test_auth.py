"""Who may call: the API key (401), the signed customer id (403), and one customer never
sees another's tickets (404, exactly as for a ticket that does not exist)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.main import cli
from models import Message
from services.apikeys import customer_signature
from tests.api.conftest import AppUser, flask_transport, issue_key


def test_no_key_is_401_with_a_challenge(app_user: Any) -> None:
    user = app_user()
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        reply = user.send("GET", "/api/v1/tickets", headers, None)
        assert reply.status == 401 and reply.error["code"] == "api_key_required"
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("bad_key", [
    "not-a-key",
    "qjk_00000000_" + "A" * 43,  # well-formed, no such key
])
def test_unknown_key_is_401(app_user: Any, bad_key: str) -> None:
    user = app_user()
    reply = user.send("GET", "/api/v1/tickets", {**user.auth_headers(), "Authorization": f"Bearer {bad_key}"}, None)
    assert reply.status == 401 and reply.error["code"] == "invalid_api_key"


def test_right_prefix_wrong_secret_is_401(app_user: Any, api_key: Any) -> None:
    user = app_user()
    forged = api_key.api_key[:-4] + ("AAAA" if not api_key.api_key.endswith("AAAA") else "BBBB")
    reply = user.send("GET", "/api/v1/tickets", {**user.auth_headers(), "Authorization": f"Bearer {forged}"}, None)
    assert reply.status == 401 and reply.error["code"] == "invalid_api_key"


def test_a_revoked_key_stops_working_at_once(app_user: Any, runtime: Any, db_url: str) -> None:
    other = issue_key(runtime, "android")
    revoked_user = app_user()
    number = revoked_user.submit("排队太久").json["number"]
    result = CliRunner().invoke(cli, ["apikey", "revoke", "ios"], env={"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    for reply in (revoked_user.tickets(), revoked_user.ticket(number), revoked_user.submit("再来一条")):
        assert reply.status == 401 and reply.error["code"] == "api_key_revoked"
        assert number not in reply.body.decode()
    assert app_user(key=other).tickets().status == 200


def test_missing_customer_headers_are_403(app_user: Any) -> None:
    user = app_user()
    for missing in ("X-Customer-Id", "X-Customer-Timestamp", "X-Customer-Signature"):
        headers = {k: v for k, v in user.auth_headers().items() if k != missing}
        reply = user.send("GET", "/api/v1/tickets", headers, None)
        assert reply.status == 403 and reply.error["code"] == "customer_signature_required"


def test_a_signature_must_match_the_customer_and_the_key(app_user: Any, runtime: Any) -> None:
    user = app_user("alice")
    headers = user.auth_headers()
    tampered = {**headers, "X-Customer-Id": "mallory"}  # alice's signature, mallory's id
    other_key = issue_key(runtime, "android")
    wrong_secret = {**headers, "X-Customer-Signature": customer_signature(other_key.signing_secret, "alice",
                                                                          headers["X-Customer-Timestamp"])}
    garbage = {**headers, "X-Customer-Signature": "zz\u00e9"}
    for bad in (tampered, wrong_secret, garbage):
        reply = user.send("GET", "/api/v1/tickets", bad, None)
        assert reply.status == 403 and reply.error["code"] == "invalid_signature"


def test_signatures_expire(app_user: Any, runtime: Any) -> None:
    user = app_user()
    window = runtime.cfg.get("api.signature_window_seconds")
    now = int(time.time())
    for ts in (now - window - 30, now + window + 30):
        reply = user.send("GET", "/api/v1/tickets", user.auth_headers(timestamp=ts), None)
        assert reply.status == 403 and reply.error["code"] == "signature_expired"
    assert user.send("GET", "/api/v1/tickets", user.auth_headers(timestamp=now - window + 30), None).status == 200


@pytest.mark.parametrize(("header", "value", "code"), [
    ("X-Customer-Id", "has space", "invalid_customer_id"),
    ("X-Customer-Id", "x" * 65, "invalid_customer_id"),
    ("X-Customer-Timestamp", "yesterday", "invalid_timestamp"),
    ("X-Customer-Timestamp", "-5", "invalid_timestamp"),
])
def test_malformed_customer_headers_are_403(app_user: Any, header: str, value: str, code: str) -> None:
    user = app_user()
    reply = user.send("GET", "/api/v1/tickets", {**user.auth_headers(), header: value}, None)
    assert reply.status == 403 and reply.error["code"] == code


def test_another_customers_ticket_is_not_found_and_nothing_leaks(app_user: Any, runtime: Any) -> None:
    alice, mallory = app_user("alice"), app_user("mallory")
    mallory.submit("我也有个问题")
    number = alice.submit("我的卡号 6222021234567890128 被盗刷").json["number"]
    missing = mallory.ticket("QJ000000-000404")
    for reply in (mallory.ticket(number), mallory.reply(number, "偷看一下")):
        assert reply.status == 404
        assert reply.json == missing.json  # indistinguishable from a ticket that does not exist
        assert number not in reply.body.decode()
    assert number not in mallory.tickets().body.decode()
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 2  # nobody wrote on alice's ticket


def test_keys_of_one_app_share_its_customers_other_apps_do_not(client: Any, runtime: Any, api_key: Any) -> None:
    ios = AppUser(flask_transport(client), api_key, "cust-1")
    android = AppUser(flask_transport(client), issue_key(runtime, "android"), "cust-1")
    partner = AppUser(flask_transport(client), issue_key(runtime, "partner", app="partner-app"), "cust-1")
    number = ios.submit("排队太久").json["number"]
    assert android.ticket(number).status == 200
    assert partner.ticket(number).status == 404
    assert partner.tickets().json["total"] == 0


def test_the_openapi_document_needs_no_key(client: Any) -> None:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.get_json()["openapi"].startswith("3.1")
