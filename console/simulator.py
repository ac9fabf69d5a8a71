"""The console's WeChat simulator: a staff member acts as a customer through the real webhook.

Messages are signed (and encrypted in safe mode) by bot/simulator.WeChatUser and posted to this
same app's /wechat, in-process (flask transport) or over loopback HTTP; what the fake WeChat API
server received for the openid (customer-service and template messages) is read back from its
control API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app, request

from bot.simulator import SimReply, WeChatUser, flask_transport, http_transport

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ACTIONS = ("text", "menu", "scan", "scan_subscribe", "subscribe", "unsubscribe")
QR_SCENE_PREFIX = "qrscene_"  # what WeChat puts before the scene when a QR scan is also a new follow


@dataclass(frozen=True)
class SimResult:
    status: int
    reply: str  # the passive reply the customer sees, "" for none
    error: str | None = None


def _user(cfg: Any, openid: str) -> WeChatUser:
    transport = str(cfg.get("console.simulator.transport", "flask")).lower()
    if transport == "http":
        post = http_transport(request.host_url.rstrip("/"))
    else:
        post = flask_transport(current_app.test_client())
    return WeChatUser(post, openid=openid, token=str(cfg.require("wechat.token")),
                      mode=str(cfg.get("wechat.mode", "safe")), encoding_aes_key=cfg.get("wechat.encoding_aes_key"),
                      app_id=cfg.get("wechat.app_id"))


def send(cfg: Any, *, openid: str, action: str, value: str) -> SimResult:
    """Do what a customer does in WeChat and return what the webhook answered."""
    user = _user(cfg, openid)
    reply: SimReply
    if action == "text":
        reply = user.send_text(value)
    elif action == "menu":
        reply = user.send_event("CLICK", value)
    elif action == "scan":  # a follower scans a branch QR code
        reply = user.send_event("SCAN", value)
    elif action == "scan_subscribe":  # someone who does not follow yet scans it: a subscribe with the scene
        reply = user.send_event("subscribe", QR_SCENE_PREFIX + value)
    elif action in ("subscribe", "unsubscribe"):
        reply = user.send_event(action)
    else:
        raise ValueError(action)
    if reply.status != 200:
        return SimResult(status=reply.status, reply="", error=reply.body.strip()[:200])
    return SimResult(status=200, reply=reply.text or _news_text(reply.fields))


def _news_text(fields: dict[str, str]) -> str:
    # A news (article card) reply: show the titles.
    if fields.get("MsgType") == "news":
        return "[图文] " + " / ".join(v for k, v in fields.items() if k.endswith("Title"))
    return ""


def fake_server_url(cfg: Any) -> str | None:
    """The fake WeChat API's base URL when the app talks to one on loopback, else None."""
    base = str(cfg.get("wechat.api_base_url", ""))
    host = urlsplit(base).hostname or ""
    return base.rstrip("/") if host in LOOPBACK_HOSTS else None


def received(cfg: Any, *, openid: str) -> list[dict[str, Any]] | None:
    """What the fake WeChat server received for this openid (None: no fake server to ask)."""
    base = fake_server_url(cfg)
    if base is None:
        return None
    try:
        resp = requests.get(f"{base}/_fake/received", params={"openid": openid}, timeout=3)
        items = resp.json() if resp.ok else []
    except (requests.RequestException, ValueError) as exc:
        log.warning("fake WeChat server unreachable: %s", exc)
        return None
    return [describe(item) for item in items if isinstance(item, dict)]


def describe(item: dict[str, Any]) -> dict[str, Any]:
    """One received request as {kind, text, errcode} for the chat view."""
    raw = item.get("body")
    body: dict[str, Any] = raw if isinstance(raw, dict) else {}
    errcode = int(item.get("errcode") or 0)
    if body.get("msgtype") == "text":
        return {"kind": "客服消息", "text": str(body.get("text", {}).get("content", "")), "errcode": errcode}
    if "template_id" in body:
        data = body.get("data", {})
        parts = [str(v.get("value", "")) for v in data.values() if isinstance(v, dict)]
        return {"kind": "模板消息", "text": " / ".join(parts), "errcode": errcode}
    return {"kind": str(item.get("path", "")), "text": "", "errcode": errcode}


def menu_items(cfg: Any) -> list[tuple[str, str]]:
    """(name, key) of every click item of the configured custom menu (config `menu:`), if there is one."""
    menu = cfg.get("menu") or {}
    buttons = menu.get("buttons") or menu.get("button") or [] if isinstance(menu, dict) else []
    out: list[tuple[str, str]] = []

    def walk(items: Any) -> None:
        for b in items or []:
            if not isinstance(b, dict):
                continue
            if b.get("key"):
                out.append((str(b.get("name", b["key"])), str(b["key"])))
            walk(b.get("sub_buttons") or b.get("sub_button"))

    walk(buttons)
    return out
