"""The /wechat webhook end to end: signed (and encrypted) XML in, stored ticket and Chinese reply out."""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.security import sha1_signature
from bot.simulator import flask_transport, http_transport
from models import Customer, InboundDedup, Message, Ticket
from tests.conftest import make_config, wechat_user_for
from tests.webhook.test_security import (
    SAMPLE_AES_KEY,
    SAMPLE_APP_ID,
    SAMPLE_ENCRYPT,
    SAMPLE_MSG_SIGNATURE,
    SAMPLE_NONCE,
    SAMPLE_TIMESTAMP,
    SAMPLE_TOKEN,
)

TICKET_NUMBER = re.compile(r"QJ\d{6}-\d{6}")


def count(runtime: Any, model: Any) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def row_counts(runtime: Any) -> dict[str, int]:
    return {m.__tablename__: count(runtime, m) for m in (Customer, Ticket, Message, InboundDedup)}


# -- URL verification -------------------------------------------------------------------

def test_url_verification_echoes_only_with_a_valid_signature(client: Any, config: Any) -> None:
    ts, nonce = str(int(time.time())), "4242"
    good = sha1_signature(config.get("wechat.token"), ts, nonce)
    resp = client.get("/wechat?" + urlencode({"signature": good, "timestamp": ts, "nonce": nonce, "echostr": "e42"}))
    assert resp.status_code == 200 and resp.data == b"e42"
    resp = client.get("/wechat?" + urlencode({"signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "e42"}))
    assert resp.status_code == 403 and b"e42" not in resp.data


def test_plain_mode_sample_signature_on_get(db_url: str, model_dir: Any) -> None:
    cfg = make_config(db_url, model_dir, **{"wechat.token": "test", "wechat.mode": "plain",
                                             "wechat.timestamp_tolerance_seconds": 0})
    client = create_app(cfg).test_client()
    q = {"signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "timestamp": "1410685589", "nonce": "test",
         "echostr": "hello"}
    assert client.get("/wechat?" + urlencode(q)).data == b"hello"
    q["signature"] = "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"
    assert client.get("/wechat?" + urlencode(q)).status_code == 403


# -- a text becomes a ticket --------------------------------------------------------------

@pytest.mark.parametrize("mode", ["safe", "compatible", "plain"])
def test_text_creates_a_numbered_ticket_with_a_chinese_reply(db_url: str, model_dir: Any, mode: str) -> None:
    from tests.conftest import clean_tables

    clean_tables(db_url)
    cfg = make_config(db_url, model_dir, **{"wechat.mode": mode})
    app = create_app(cfg)
    runtime = app.extensions["qianjia.runtime"]
    user = wechat_user_for(cfg, flask_transport(app.test_client()))
    reply = user.send_text("人民路支行今天排队等了两个小时，只开了一个窗口，太慢了")
    assert reply.status == 200
    number = TICKET_NUMBER.search(reply.text)
    assert number, reply.text
    assert "24小时" in reply.text and "工单号" in reply.text
    assert reply.fields["ToUserName"] == user.openid
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.number == number.group(0)
        assert ticket.channel == "wechat" and ticket.status == "new"
        assert ticket.first_reply_due_at is not None
        assert (ticket.first_reply_due_at - ticket.created_at).total_seconds() == 24 * 3600
        assert ticket.escalation_at == ticket.first_reply_due_at
        assert ticket.category == "wait_time"
        assert ticket.type == "complaint"
        customer = s.scalars(select(Customer)).one()
        assert customer.openid == user.openid and customer.last_interaction_at is not None
        log = s.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.direction, m.ticket_id) for m in log] == [("in", ticket.id), ("out", ticket.id)]
        assert number.group(0) in log[1].content


def test_official_sample_end_to_end(db_url: str, model_dir: Any) -> None:
    """WeChat's published encrypted sample is accepted, stored and answered (encrypted)."""
    from tests.conftest import clean_tables

    clean_tables(db_url)
    cfg = make_config(db_url, model_dir, **{
        "wechat.token": SAMPLE_TOKEN, "wechat.encoding_aes_key": SAMPLE_AES_KEY, "wechat.app_id": SAMPLE_APP_ID,
        "wechat.timestamp_tolerance_seconds": 0,
    })
    app = create_app(cfg)
    runtime = app.extensions["qianjia.runtime"]
    q = {"msg_signature": SAMPLE_MSG_SIGNATURE, "timestamp": SAMPLE_TIMESTAMP, "nonce": SAMPLE_NONCE,
         "encrypt_type": "aes"}
    body = f"<xml><ToUserName><![CDATA[gh_sample]]></ToUserName><Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
    resp = app.test_client().post("/wechat?" + urlencode(q), data=body, content_type="text/xml")
    assert resp.status_code == 200
    user = wechat_user_for(cfg, None, "oyORnuP8q7ou2gfYjqLzSIWZf0rs")
    reply = user.read_reply(resp.status_code, resp.data)
    assert TICKET_NUMBER.search(reply.text)
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.text == "abcdteT"
        assert s.scalars(select(InboundDedup.dedup_key)).one() == "msg:oyORnuP8q7ou2gfYjqLzSIWZf0rs:6054768590064713728"


def test_card_number_is_never_stored_in_clear(wechat_user: Any, runtime: Any) -> None:
    user = wechat_user()
    user.send_text("我的卡 6222 0212 3456 7890 128 被ATM吞了，电话13812345678")
    with runtime.sessions() as s:
        texts = [t for t in s.scalars(select(Message.content))] + [t for t in s.scalars(select(Ticket.text))]
    joined = " ".join(texts)
    assert "6222 0212 3456 7890 128" not in joined and "13812345678" not in joined
    assert "6222" in joined  # masked, not dropped


def test_unknown_message_type_gets_a_polite_reply_not_an_error(wechat_user: Any, runtime: Any) -> None:
    reply = wechat_user().send_message("hologram", {"Whatever": "x"})
    assert reply.status == 200
    assert "抱歉" in reply.text
    assert count(runtime, Ticket) == 0


def test_event_is_acknowledged_with_success(wechat_user: Any, runtime: Any) -> None:
    reply = wechat_user().send_event("VIEW", "https://bank.example/")
    assert reply.status == 200 and reply.body == "success"


# -- exactly once -------------------------------------------------------------------------

def test_retries_get_the_same_reply_and_one_ticket(wechat_user: Any, runtime: Any) -> None:
    user = wechat_user()
    replies = [user.send_text("ATM吞卡了，怎么办", msg_id="900000000000001") for _ in range(3)]
    assert {r.status for r in replies} == {200}
    assert len({r.text for r in replies}) == 1
    assert count(runtime, Ticket) == 1
    assert count(runtime, InboundDedup) == 1


def test_same_msgid_from_two_users_is_two_tickets(wechat_user: Any, runtime: Any) -> None:
    wechat_user().send_text("柜员态度很差", msg_id="777")
    wechat_user().send_text("手机银行登录不上", msg_id="777")
    assert count(runtime, Ticket) == 2


def test_event_retries_are_deduplicated(wechat_user: Any, runtime: Any) -> None:
    user = wechat_user()
    for _ in range(3):
        user.send_event("VIEW", "https://bank.example/", create_time=1700000000)
    assert count(runtime, InboundDedup) == 1
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.msg_type == "event")) == 1


def test_concurrent_retries_against_a_live_server(live_server: Any, config: Any, runtime: Any) -> None:
    """WeChat's three deliveries of one message arriving at once: one ticket, three identical replies."""
    user = wechat_user_for(config, http_transport(live_server.url))
    xml_path, body = user.signed_request(
        f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{user.openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[我在城东营业部办业务，大堂经理爱理不理的]]></Content><MsgId>880000000000042</MsgId></xml>"
    )
    barrier = threading.Barrier(3)
    results: list[Any] = []
    lock = threading.Lock()

    def deliver() -> None:
        post = http_transport(live_server.url)
        barrier.wait()
        status, raw = post(xml_path, body)
        with lock:
            results.append(user.read_reply(status, raw))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status for r in results] == [200, 200, 200]
    assert len({r.text for r in results}) == 1 and TICKET_NUMBER.search(results[0].text)
    assert count(runtime, Ticket) == 1
    assert count(runtime, InboundDedup) == 1


# -- hostile input changes nothing ----------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"""


def _plain_user(db_url: str, model_dir: Any, **overrides: Any) -> tuple[Any, Any, Any]:
    from tests.conftest import clean_tables

    clean_tables(db_url)
    cfg = make_config(db_url, model_dir, **{"wechat.mode": "plain", **overrides})
    app = create_app(cfg)
    return app, app.extensions["qianjia.runtime"], wechat_user_for(cfg, flask_transport(app.test_client()))


@pytest.mark.parametrize("xml,status", [
    ("<xml><ToUserName>gh</ToUserName><FromUserName>", 400),
    ("not xml at all", 400),
    ("<xml><ToUserName>gh</ToUserName></xml>", 400),
    ("<root><a>1</a></root>", 400),
    (BILLION_LAUGHS, 400),
    (XXE, 400),
])
def test_malformed_or_hostile_xml_is_refused_and_writes_nothing(db_url: str, model_dir: Any, xml: str,
                                                                 status: int) -> None:
    app, runtime, user = _plain_user(db_url, model_dir)
    reply = user.deliver(xml)
    assert reply.status == status, reply.body
    assert reply.body.strip()  # a clear reason
    assert set(row_counts(runtime).values()) == {0}


def test_forged_signature_is_refused(db_url: str, model_dir: Any) -> None:
    app, runtime, user = _plain_user(db_url, model_dir)
    path, body = user.signed_request("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
                                     "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
                                     "<MsgId>5</MsgId></xml>")
    forged = re.sub(r"signature=[0-9a-f]{40}", "signature=" + "a" * 40, path)
    status, raw = user.post(forged, body)
    assert status == 403 and b"signature" in raw
    assert set(row_counts(runtime).values()) == {0}


def test_stale_and_future_timestamps_are_refused(db_url: str, model_dir: Any) -> None:
    app, runtime, user = _plain_user(db_url, model_dir)
    xml = ("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>text</MsgType><Content>hi</Content><MsgId>6</MsgId></xml>")
    assert user.deliver(xml, timestamp=int(time.time()) - 301).status == 403
    assert user.deliver(xml, timestamp=int(time.time()) + 301).status == 403
    assert set(row_counts(runtime).values()) == {0}


def test_oversized_body_is_refused(db_url: str, model_dir: Any) -> None:
    app, runtime, user = _plain_user(db_url, model_dir, **{"wechat.max_body_bytes": 2048})
    reply = user.send_text("长" * 2000)
    assert reply.status == 413
    assert set(row_counts(runtime).values()) == {0}


def test_wrong_app_id_inside_encrypted_message_is_refused(db_url: str, model_dir: Any) -> None:
    from tests.conftest import clean_tables

    clean_tables(db_url)
    cfg = make_config(db_url, model_dir)
    app = create_app(cfg)
    runtime = app.extensions["qianjia.runtime"]
    impostor = wechat_user_for(cfg, flask_transport(app.test_client()), app_id="wxsomebodyelse00000")
    reply = impostor.send_text("hello")
    assert reply.status == 403 and "AppId" in reply.body
    assert set(row_counts(runtime).values()) == {0}


def test_safe_mode_refuses_plaintext_messages(wechat_user: Any, runtime: Any) -> None:
    reply = wechat_user(mode="plain").send_text("明文消息")
    assert reply.status == 400
    assert set(row_counts(runtime).values()) == {0}


def test_bad_msg_signature_in_safe_mode_is_refused(wechat_user: Any, runtime: Any) -> None:
    user = wechat_user()
    path, body = user.signed_request("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
                                     "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content>"
                                     "<MsgId>8</MsgId></xml>")
    path = re.sub(r"msg_signature=[0-9a-f]{40}", "msg_signature=" + "b" * 40, path)
    status, _ = user.post(path, body)
    assert status == 403
    assert set(row_counts(runtime).values()) == {0}
