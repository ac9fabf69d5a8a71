"""A WeChat user, simulated: builds real XML, signs it, encrypts it in safe mode, posts it.

Used by `qianjia simulate`, the tests and the benchmarks. The transport is either a
base URL (a live server) or a Flask test client.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from bot.parse import parse_xml_fields
from bot.security import MessageCrypto, sha1_signature

PostFn = Callable[[str, bytes], tuple[int, bytes]]

_msg_ids = itertools.count(int(time.time() * 1000) * 1000 + secrets.randbelow(1000))
_msg_ids_lock = threading.Lock()


def next_msg_id() -> str:
    with _msg_ids_lock:
        return str(next(_msg_ids))


def http_transport(base_url: str, timeout: float = 10.0) -> PostFn:
    import requests

    session = requests.Session()

    def post(path: str, body: bytes) -> tuple[int, bytes]:
        resp = session.post(base_url.rstrip("/") + path, data=body,
                            headers={"Content-Type": "text/xml"}, timeout=timeout)
        return resp.status_code, resp.content

    return post


def flask_transport(client: Any) -> PostFn:
    def post(path: str, body: bytes) -> tuple[int, bytes]:
        resp = client.post(path, data=body, content_type="text/xml")
        return resp.status_code, resp.data

    return post


@dataclass
class SimReply:
    status: int
    body: str  # the (decrypted) reply XML, `success`, or the error text
    fields: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def text(self) -> str:
        """What the customer sees: the reply text, or '' for `success`."""
        return self.fields.get("Content", "")


def text_xml(*, openid: str, account: str, content: str, msg_id: str, create_time: int) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{account}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{escape(content)}</Content>"
        f"<MsgId>{msg_id}</MsgId>"
        "</xml>"
    )


def event_xml(*, openid: str, account: str, event: str, create_time: int, event_key: str | None = None,
              extra: dict[str, str] | None = None) -> str:
    parts = [
        "<xml>",
        f"<ToUserName><![CDATA[{account}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        f"<Event><![CDATA[{event}]]></Event>",
    ]
    if event_key is not None:
        parts.append(f"<EventKey><![CDATA[{event_key}]]></EventKey>")
    for key, value in (extra or {}).items():
        parts.append(f"<{key}>{escape(value)}</{key}>")
    parts.append("</xml>")
    return "".join(parts)


def message_xml(*, openid: str, account: str, msg_type: str, fields: dict[str, str], msg_id: str,
                create_time: int) -> str:
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{body}<MsgId>{msg_id}</MsgId></xml>"
    )


class WeChatUser:
    """One customer talking to the Official Account through the real webhook protocol."""

    def __init__(
        self,
        post: PostFn,
        *,
        openid: str,
        token: str,
        mode: str = "safe",
        encoding_aes_key: str | None = None,
        app_id: str | None = None,
        account: str = "gh_qianjia_demo",
        path: str = "/wechat",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.post = post
        self.openid = openid
        self.token = token
        self.mode = mode
        self.account = account
        self.path = path
        self.clock = clock
        self.crypto = (
            MessageCrypto(token, encoding_aes_key, app_id)
            if mode in ("safe", "compatible") and encoding_aes_key and app_id
            else None
        )

    # -- building requests -------------------------------------------------------------
    def signed_request(self, xml: str, *, timestamp: int | None = None, nonce: str | None = None) -> tuple[str, bytes]:
        """(path with query, body) exactly as WeChat would send this message."""
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {"signature": sha1_signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce,
                 "openid": self.openid}
        if self.crypto is None:
            return f"{self.path}?{urlencode(query)}", xml.encode("utf-8")
        encrypt_env = self.crypto.encrypt(xml, nonce, ts)
        encrypt = parse_xml_fields(encrypt_env)["Encrypt"]
        query.update(encrypt_type="aes", msg_signature=sha1_signature(self.token, ts, nonce, encrypt))
        if self.mode == "compatible":
            inner = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
            body = inner
        else:
            body = (f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return f"{self.path}?{urlencode(query)}", body.encode("utf-8")

    def read_reply(self, status: int, raw: bytes) -> SimReply:
        body = raw.decode("utf-8", "replace")
        if status != 200 or body.strip() in ("", "success"):
            return SimReply(status, body, {})
        fields = parse_xml_fields(body)
        if "Encrypt" in fields and self.crypto is not None:
            expected = sha1_signature(self.token, fields.get("TimeStamp", ""), fields.get("Nonce", ""),
                                      fields["Encrypt"])
            if expected != fields.get("MsgSignature"):
                raise AssertionError("reply signature does not verify")
            body = self.crypto.decrypt(fields["Encrypt"])
            fields = parse_xml_fields(body)
        return SimReply(status, body, fields)

    def deliver(self, xml: str, **kw: Any) -> SimReply:
        path, body = self.signed_request(xml, **kw)
        status, raw = self.post(path, body)
        return self.read_reply(status, raw)

    # -- what a customer does -----------------------------------------------------------
    def send_text(self, content: str, *, msg_id: str | None = None, create_time: int | None = None) -> SimReply:
        xml = text_xml(openid=self.openid, account=self.account, content=content,
                       msg_id=msg_id or next_msg_id(), create_time=create_time or int(self.clock()))
        return self.deliver(xml)

    def send_event(self, event: str, event_key: str | None = None, *, create_time: int | None = None,
                   extra: dict[str, str] | None = None) -> SimReply:
        xml = event_xml(openid=self.openid, account=self.account, event=event, event_key=event_key,
                        create_time=create_time or int(self.clock()), extra=extra)
        return self.deliver(xml)

    def send_message(self, msg_type: str, fields: dict[str, str], *, msg_id: str | None = None) -> SimReply:
        xml = message_xml(openid=self.openid, account=self.account, msg_type=msg_type, fields=fields,
                          msg_id=msg_id or next_msg_id(), create_time=int(self.clock()))
        return self.deliver(xml)
