"""Logs carry a request/ticket id and never a raw openid, card, resident ID or mobile number."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.simulator import http_transport
from core.logging import configure_logging, log_context, openid_tag, redact_text
from nlp.pii import id_check_char, luhn_valid
from tests.conftest import LiveServer, wechat_user_for
from tests.webhook.test_webhook import TICKET_NUMBER


def _card() -> str:
    stem = "622202100012345678"
    return next(stem + str(d) for d in range(10) if luhn_valid(stem + str(d)))


CARD = _card()
RESIDENT_ID = "11010519491231002" + id_check_char("11010519491231002")
MOBILE = "13912345678"
OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Production logging (JSON) into a buffer, SQL statements and parameters included."""
    buffer = io.StringIO()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "sqlalchemy.engine", "werkzeug")}
    handler = configure_logging(fmt="json", level="INFO", stream=buffer)
    # An operator turning on SQL logging during an incident must not leak either.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_a_full_conversation_leaves_no_personal_data_in_the_logs(captured: io.StringIO, app: Any,
                                                                   config: Any) -> None:
    app.extensions["qianjia.runtime"].analyzer  # noqa: B018
    with LiveServer(app) as server:
        user = wechat_user_for(config, http_transport(server.url), OPENID)
        user.send_event("subscribe")
        replies = [
            user.send_text(f"我的银行卡{CARD}在ATM被吞了，请尽快处理"),
            user.send_text(f"身份证号{RESIDENT_ID}，开户的时候柜员态度很差"),
            user.send_text(f"有事请打我电话{MOBILE}，网点排队太久"),
            user.send_text(f"补充：卡号 {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:16]} {CARD[16:]}"),
        ]
    # A careless line and a failure with personal data in the exception text:
    logging.getLogger("handlers.example").warning("customer %s wrote %s", OPENID, f"电话{MOBILE}")
    try:
        raise ValueError(f"cannot parse id {RESIDENT_ID} for openid={OPENID}")
    except ValueError:
        logging.getLogger("handlers.example").exception("lookup failed")

    output = captured.getvalue()
    for raw in (OPENID, CARD, RESIDENT_ID, MOBILE, CARD[12:16] + " " + CARD[16:]):
        assert raw not in output, f"{raw} leaked into the logs"
    # The redacted forms are there, so the lines were written and redacted, not dropped.
    assert openid_tag(OPENID) in output
    assert f"{MOBILE[:3]}****{MOBILE[-4:]}" in output
    assert "Traceback" in output and "lookup failed" in output

    lines = [json.loads(line) for line in output.splitlines()]
    webhook_lines = [line for line in lines if line["logger"] == "bot.health"]
    assert len(webhook_lines) == 5
    assert all(line.get("request_id") for line in webhook_lines)
    assert len({line["request_id"] for line in webhook_lines}) == 5
    numbers = {line.get("ticket") for line in webhook_lines} - {None}
    assert numbers == {number for r in replies for number in TICKET_NUMBER.findall(r.text)}
    inserts = [line for line in lines if line["msg"].startswith("INSERT INTO inbound_dedup")]
    assert len(inserts) == 5 and all(line.get("request_id") for line in inserts)


def test_text_format_is_readable_and_carries_the_ids() -> None:
    buffer = io.StringIO()
    handler = configure_logging(fmt="text", level="INFO", stream=buffer)
    try:
        with log_context(request_id="req42", ticket="QJ260101-000001", job="retention"):
            logging.getLogger("qianjia.test").info("sent to %s", OPENID)
        logging.getLogger("qianjia.test").info("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = buffer.getvalue().splitlines()
    assert "INFO qianjia.test [req=req42 ticket=QJ260101-000001 job=retention] sent to oid:" in first
    assert "[req=- ticket=- job=-] outside" in second


def test_redact_text_covers_query_strings_and_xml() -> None:
    short = "oSHORT123"  # not the usual shape, but named as an openid
    text = f"POST /wechat?openid={short}&nonce=1 <FromUserName><![CDATA[{short}]]></FromUserName>"
    assert short not in redact_text(text)
    assert redact_text("no personal data here") == "no personal data here"
