"""`qianjia simulate`: chat with the running bot as a WeChat customer would."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

import click

from cli.common import fail, friendly_errors, get_config
from core.config import Config, demo_overrides

HELP_TEXT = """直接输入文字发送给公众号。其他命令：
  /subscribe            关注公众号
  /unsubscribe          取消关注
  /scan 网点代码         扫描网点二维码（如 /scan RMR）
  /menu 菜单KEY          点击菜单
  /voice 文字            发送语音（带语音识别结果）
  /location 纬度 经度 地址  发送位置
  /quit                 退出"""


class FakeInbox:
    """Reads what the fake WeChat API server received for this user (customer-service messages etc.)."""

    def __init__(self, base_url: str | None, openid: str) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.openid = openid
        self.seen = 0

    def fetch_new(self) -> list[dict[str, Any]]:
        if not self.base_url:
            return []
        query = urllib.parse.urlencode({"openid": self.openid})
        try:
            with urllib.request.urlopen(f"{self.base_url}/_fake/received?{query}", timeout=2) as resp:
                items = json.loads(resp.read().decode("utf-8"))
        except (OSError, ValueError):
            return []
        new = items[self.seen:]
        self.seen = len(items)
        return new


def describe_outbound(item: dict[str, Any]) -> str:
    body = item.get("body") or item.get("json") or {}
    path = str(item.get("path", ""))
    if isinstance(body, dict):
        if body.get("msgtype") == "text":
            return "[客服消息] " + str(body.get("text", {}).get("content", ""))
        if "template_id" in body:
            data = body.get("data", {})
            parts = [str(v.get("value", "")) for v in data.values() if isinstance(v, dict)]
            return "[模板消息] " + " / ".join(parts)
        if body.get("msgtype") == "news":
            return "[图文消息] " + " / ".join(a.get("title", "") for a in body.get("news", {}).get("articles", []))
    return f"[{path}] {json.dumps(body, ensure_ascii=False)}"


@click.command()
@click.option("--url", default=None, help="The bot's base URL (default: http://server.host:server.port).")
@click.option("--openid", default="oQianjiaDemoCustomer000000001", show_default=True, help="The simulated customer.")
@click.option("--send", "sends", multiple=True, help="Send this text and exit (repeatable).")
@click.option("--event", "events", multiple=True, help="Send this event (subscribe, unsubscribe, SCAN, CLICK…).")
@click.option("--event-key", default=None, help="EventKey for --event (QR scene, menu key).")
@click.option("--scan", "scans", multiple=True, help="Scan a branch QR code (branch code).")
@click.option("--menu", "menus", multiple=True, help="Tap a menu item (menu key).")
@click.option("--fake-url", default=None, help="Fake WeChat API server to read customer-service messages from.")
@click.option("--wait", type=click.FloatRange(0, 60), default=1.0, show_default=True,
              help="Seconds to wait for customer-service messages after each send.")
@click.pass_context
@friendly_errors
def simulate(ctx: click.Context, url: str | None, openid: str, sends: tuple[str, ...], events: tuple[str, ...],
             event_key: str | None, scans: tuple[str, ...], menus: tuple[str, ...], fake_url: str | None,
             wait: float) -> None:
    """Sign (and in safe mode encrypt) real WeChat XML and post it to the webhook."""
    from bot.simulator import WeChatUser, http_transport

    cfg: Config = get_config(ctx)
    missing = demo_overrides(cfg)
    if missing:
        click.echo("（环境变量中没有公众号密钥，使用演示密钥，对应 qianjia serve --demo）", err=True)
        cfg = cfg.with_overrides(missing)
    url = url or f"http://{cfg.get('server.host', '127.0.0.1')}:{cfg.get('server.port', 8080)}"
    if fake_url is None:
        api_base = str(cfg.get("wechat.api_base_url", ""))
        loopback = any(h in api_base for h in ("127.0.0.1", "localhost", "[::1]"))
        fake_url = api_base if loopback else f"http://127.0.0.1:{cfg.get('demo.fake_wechat_port', 8081)}"
    user = WeChatUser(
        http_transport(url),
        openid=openid,
        token=str(cfg.require("wechat.token")),
        mode=str(cfg.get("wechat.mode", "safe")),
        encoding_aes_key=cfg.get("wechat.encoding_aes_key"),
        app_id=cfg.get("wechat.app_id"),
    )
    inbox = FakeInbox(fake_url, openid)
    inbox.fetch_new()  # only show what arrives from now on

    def run(action: str, send: Any) -> bool:
        click.echo(f"我：{action}")
        try:
            reply = send()
        except OSError as exc:
            click.echo(f"错误：无法连接 {url}：{exc}", err=True)
            return False
        if reply.status != 200:
            click.echo(f"错误：公众号返回 HTTP {reply.status}：{reply.body.strip()}", err=True)
            return False
        if reply.text:
            click.echo(f"千佳银行：{reply.text}")
        deadline = time.monotonic() + wait
        while True:
            for item in inbox.fetch_new():
                click.echo(f"千佳银行：{describe_outbound(item)}")
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        return True

    scripted = bool(sends or events or scans or menus)
    ok = True
    for event in events:
        ok &= run(f"[事件 {event}]", lambda e=event: user.send_event(e, event_key))
    for code in scans:
        ok &= run(f"[扫码 {code}]", lambda c=code: user.send_event("SCAN", c))
    for key in menus:
        ok &= run(f"[菜单 {key}]", lambda k=key: user.send_event("CLICK", k))
    for text in sends:
        ok &= run(text, lambda t=text: user.send_text(t))
    if scripted:
        if not ok:
            sys.exit(1)
        return

    click.echo(f"已连接 {url}，身份 {openid}。输入 /help 查看命令。")
    while True:
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo("")
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/help":
            click.echo(HELP_TEXT)
            continue
        cmd, _, rest = line.partition(" ")
        rest = rest.strip()
        if cmd == "/subscribe":
            run("[关注]", lambda: user.send_event("subscribe"))
        elif cmd == "/unsubscribe":
            run("[取消关注]", lambda: user.send_event("unsubscribe"))
        elif cmd == "/scan" and rest:
            run(f"[扫码 {rest}]", lambda: user.send_event("SCAN", rest))
        elif cmd == "/menu" and rest:
            run(f"[菜单 {rest}]", lambda: user.send_event("CLICK", rest))
        elif cmd == "/voice" and rest:
            run(f"[语音] {rest}", lambda: user.send_message(
                "voice", {"MediaId": "sim-voice", "Format": "amr", "Recognition": rest}))
        elif cmd == "/location":
            parts = rest.split(maxsplit=2)
            if len(parts) < 2:
                click.echo("用法：/location 纬度 经度 地址")
                continue
            try:
                lat, lon = float(parts[0]), float(parts[1])
            except ValueError:
                click.echo("纬度和经度必须是数字")
                continue
            label = parts[2] if len(parts) > 2 else ""
            run(f"[位置] {label}", lambda: user.send_message(
                "location", {"Location_X": str(lat), "Location_Y": str(lon), "Scale": "15", "Label": label}))
        elif cmd.startswith("/"):
            click.echo("未知命令，输入 /help 查看命令。")
        else:
            run(line, lambda: user.send_text(line))


if __name__ == "__main__":  # pragma: no cover
    fail("use `qianjia simulate`")
