"""A fake WeChat API server on loopback for tests and the demo.

It speaks WeChat's HTTP/JSON protocol (access tokens, customer-service and template
messages, menus, QR codes, the WeCom group robot), records every request it receives
and can be told to fail.  Control it in-process through the methods of
`FakeWeChatServer`, or from another process through the HTTP API under ``/_fake/``:

    GET  /_fake/received?path=&openid=   requests received, as a JSON list
    GET  /_fake/stats                    {"token_fetch_count", "received"}
    POST /_fake/fail_next                {"path", "errcode", "times"?, "errmsg"?}
    POST /_fake/delay                    {"path", "seconds"} (0 removes the delay)
    POST /_fake/expire_tokens
    POST /_fake/reset

Run it standalone with ``python -m bot.fake_wechat --port 8081 --app-id X --app-secret Y``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

TOKEN_TTL_SECONDS = 7200

TOKEN_PATH = "/cgi-bin/token"
STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
CUSTOM_SEND_PATH = "/cgi-bin/message/custom/send"
TEMPLATE_SEND_PATH = "/cgi-bin/message/template/send"
MENU_CREATE_PATH = "/cgi-bin/menu/create"
QRCODE_CREATE_PATH = "/cgi-bin/qrcode/create"
ROBOT_SEND_PATH = "/cgi-bin/webhook/send"
TOKEN_PATHS = (TOKEN_PATH, STABLE_TOKEN_PATH)

# errmsg WeChat answers for the codes this project handles.
DEFAULT_ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40014: "invalid access_token",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, mustslower retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    48001: "api unauthorized",
    93000: "invalid webhook url",
}

QR_ACTIONS = {"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"}
QR_DEFAULT_EXPIRE_SECONDS = 30
QR_MAX_EXPIRE_SECONDS = 2592000


def _normalize_path(path: str) -> str:
    path = urlsplit(path).path or "/"
    return path if path.startswith("/") else "/" + path


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the fake server received."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    time: float
    errcode: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()
    expired: bool = False  # set by expire_tokens(): answer 42001 instead of 40001


@dataclass
class _State:
    received: list[ReceivedRequest] = field(default_factory=list)
    faults: dict[str, deque[tuple[int, str]]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, _Token] = field(default_factory=dict)  # every token ever issued
    current: dict[str, str] = field(default_factory=dict)  # "token"/"stable" -> valid token
    token_fetches: int = 0
    next_msgid: int = 1000000001


class FakeWeChatServer:
    """A real HTTP server on loopback that behaves like api.weixin.qq.com."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_ttl_seconds: int = TOKEN_TTL_SECONDS,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.host = host
        self.port = port
        self.token_ttl_seconds = token_ttl_seconds
        self._lock = threading.Lock()
        self._state = _State()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        handler = _make_handler(self)
        httpd = _QuietThreadingHTTPServer((self.host, self.port), handler)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-wechat", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        # Keep-alive connections outlive shutdown(): cut them, as a dead server would.
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8081 (use as wechat.api_base_url)."""
        if self._httpd is None:
            raise RuntimeError("FakeWeChatServer is not started")
        return f"http://{self.host}:{self.port}"

    def robot_webhook_url(self, key: str = "fake-robot-key") -> str:
        """A WeCom group-robot webhook URL served by this fake."""
        return f"{self.url}{ROBOT_SEND_PATH}?key={key}"

    # -- inspection --------------------------------------------------------------

    def received(self, path: str | None = None) -> list[ReceivedRequest]:
        """Every request received (control calls excluded), optionally for one path."""
        with self._lock:
            items = list(self._state.received)
        if path is not None:
            wanted = _normalize_path(path)
            items = [r for r in items if r.path == wanted]
        return items

    def _bodies(self, path: str, openid: str | None) -> list[dict[str, Any]]:
        out = []
        for req in self.received(path):
            if req.errcode != 0 or not isinstance(req.body, dict):
                continue
            if openid is not None and req.body.get("touser") != openid:
                continue
            out.append(req.body)
        return out

    def custom_messages(self, openid: str | None = None) -> list[dict[str, Any]]:
        """Customer-service messages accepted, optionally for one openid."""
        return self._bodies(CUSTOM_SEND_PATH, openid)

    def template_messages(self, openid: str | None = None) -> list[dict[str, Any]]:
        """Template messages accepted, optionally for one openid."""
        return self._bodies(TEMPLATE_SEND_PATH, openid)

    def menus(self) -> list[dict[str, Any]]:
        """Menus created, oldest first."""
        return self._bodies(MENU_CREATE_PATH, None)

    def qrcodes(self) -> list[dict[str, Any]]:
        """QR-code creation requests accepted."""
        return self._bodies(QRCODE_CREATE_PATH, None)

    def robot_messages(self) -> list[dict[str, Any]]:
        """WeCom group-robot messages accepted (each with its webhook key under "_key")."""
        out = []
        for req in self.received(ROBOT_SEND_PATH):
            if req.errcode == 0 and isinstance(req.body, dict):
                out.append({**req.body, "_key": req.query.get("key")})
        return out

    @property
    def token_fetch_count(self) -> int:
        """How many access tokens were handed out (both endpoints)."""
        with self._lock:
            return self._state.token_fetches

    def current_token(self, *, stable: bool = True) -> str | None:
        """The token currently valid for /cgi-bin/stable_token (or /cgi-bin/token)."""
        with self._lock:
            token = self._state.current.get("stable" if stable else "token")
            info = self._state.tokens.get(token) if token else None
            if info is None or info.expired or info.expires_at <= time.monotonic():
                return None
            return token

    # -- control -----------------------------------------------------------------

    def reset(self) -> None:
        """Forget received requests, pending faults, delays and tokens."""
        with self._lock:
            self._state = _State()

    def fail_next(self, path: str, errcode: int, times: int = 1, errmsg: str | None = None) -> None:
        """Make the next `times` calls to `path` answer with `errcode`."""
        if times < 1:
            raise ValueError("times must be >= 1")
        msg = errmsg if errmsg is not None else DEFAULT_ERRMSGS.get(errcode, f"fake error {errcode}")
        with self._lock:
            queue = self._state.faults.setdefault(_normalize_path(path), deque())
            queue.extend([(int(errcode), msg)] * times)

    def set_delay(self, path: str, seconds: float) -> None:
        """Answer every call to `path` `seconds` late (0 removes the delay): widens race windows."""
        with self._lock:
            if seconds > 0:
                self._state.delays[_normalize_path(path)] = float(seconds)
            else:
                self._state.delays.pop(_normalize_path(path), None)

    def expire_tokens(self) -> None:
        """Expire every token issued so far: the next API call answers 42001."""
        with self._lock:
            for token in self._state.tokens.values():
                token.expired = True
            self._state.current.clear()

    # -- request handling (called from handler threads) -----------------------------

    def _handle_api(self, method: str, path: str, query: dict[str, str], raw_body: bytes) -> dict[str, Any]:
        body: Any = None
        body_error = False
        if raw_body:
            try:
                body = json.loads(raw_body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body, body_error = raw_body.decode("utf-8", "replace"), True
        with self._lock:
            delay = self._state.delays.get(path, 0.0)
        if delay:
            time.sleep(delay)
        with self._lock:
            result = self._dispatch(method, path, query, body, body_error)
            self._state.received.append(
                ReceivedRequest(
                    method=method,
                    path=path,
                    query=query,
                    body=body,
                    time=time.time(),
                    errcode=int(result.get("errcode", 0)),
                )
            )
        return result

    def _error(self, errcode: int, errmsg: str | None = None) -> dict[str, Any]:
        return {"errcode": errcode, "errmsg": errmsg or DEFAULT_ERRMSGS.get(errcode, "error")}

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], body: Any, body_error: bool
    ) -> dict[str, Any]:
        state = self._state
        fault_queue = state.faults.get(path)
        if fault_queue:
            errcode, errmsg = fault_queue.popleft()
            return self._error(errcode, errmsg)
        if path == TOKEN_PATH:
            if method != "GET":
                return self._error(43001, "require GET method")
            return self._issue_token(
                query.get("grant_type"), query.get("appid"), query.get("secret"), stable=False, force=True
            )
        if path == STABLE_TOKEN_PATH:
            if method != "POST":
                return self._error(43002, "require POST method")
            if body_error or not isinstance(body, dict):
                return self._error(47001)
            return self._issue_token(
                body.get("grant_type"),
                body.get("appid"),
                body.get("secret"),
                stable=True,
                force=bool(body.get("force_refresh", False)),
            )
        if path == ROBOT_SEND_PATH:
            if not query.get("key"):
                return self._error(93000)
            if body_error or not isinstance(body, dict) or "msgtype" not in body:
                return self._error(40008, "invalid message type")
            return {"errcode": 0, "errmsg": "ok"}
        handler = self._api_handlers().get(path)
        if handler is None:
            return self._error(404, "api not found (fake)")
        token_error = self._check_token(query.get("access_token"))
        if token_error is not None:
            return token_error
        if method != "POST":
            return self._error(43002, "require POST method")
        if body_error or not isinstance(body, dict):
            return self._error(44002 if body is None else 47001)
        return handler(body)

    def _api_handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            CUSTOM_SEND_PATH: self._custom_send,
            TEMPLATE_SEND_PATH: self._template_send,
            MENU_CREATE_PATH: self._menu_create,
            QRCODE_CREATE_PATH: self._qrcode_create,
        }

    def _issue_token(
        self, grant_type: Any, appid: Any, secret: Any, *, stable: bool, force: bool
    ) -> dict[str, Any]:
        if grant_type != "client_credential":
            return self._error(40002, "invalid grant_type")
        if appid != self.app_id:
            return self._error(40013)
        if secret != self.app_secret:
            return self._error(40125)
        state = self._state
        slot = "stable" if stable else "token"
        now = time.monotonic()
        current = state.current.get(slot)
        info = state.tokens.get(current) if current else None
        if info is not None and not force and not info.expired and info.expires_at > now:
            state.token_fetches += 1
            return {"access_token": info.value, "expires_in": max(1, int(info.expires_at - now))}
        if info is not None:
            # The previous token of this kind stops working (40001), as on WeChat.
            state.tokens.pop(info.value, None)
        value = f"FAKE_{slot.upper()}_{secrets.token_urlsafe(24)}"
        state.tokens[value] = _Token(value=value, expires_at=now + self.token_ttl_seconds)
        state.current[slot] = value
        state.token_fetches += 1
        return {"access_token": value, "expires_in": self.token_ttl_seconds}

    def _check_token(self, token: str | None) -> dict[str, Any] | None:
        if not token:
            return self._error(41001)
        info = self._state.tokens.get(token)
        if info is None:
            return self._error(40001)
        if info.expired or info.expires_at <= time.monotonic():
            return self._error(42001)
        return None

    def _custom_send(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("touser") or not body.get("msgtype"):
            return self._error(47001)
        if not isinstance(body.get(body["msgtype"]), dict):
            return self._error(47001)
        return {"errcode": 0, "errmsg": "ok"}

    def _template_send(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("touser") or not body.get("template_id"):
            return self._error(47001)
        msgid = self._state.next_msgid
        self._state.next_msgid += 1
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _menu_create(self, body: dict[str, Any]) -> dict[str, Any]:
        buttons = body.get("button")
        if not isinstance(buttons, list) or not buttons or len(buttons) > 3:
            return self._error(40016, "invalid button size")
        return {"errcode": 0, "errmsg": "ok"}

    def _qrcode_create(self, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action_name")
        if action not in QR_ACTIONS:
            return self._error(40053, "invalid action_name")
        scene = (body.get("action_info") or {}).get("scene") or {}
        if "scene_str" not in scene and "scene_id" not in scene:
            return self._error(47001)
        ticket = "gQ" + secrets.token_urlsafe(30)
        result: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:22]}"}
        if action in ("QR_SCENE", "QR_STR_SCENE"):
            expire = int(body.get("expire_seconds") or QR_DEFAULT_EXPIRE_SECONDS)
            result["expire_seconds"] = min(max(expire, 60), QR_MAX_EXPIRE_SECONDS)
        return result

    # -- HTTP control API ----------------------------------------------------------

    def _handle_control(
        self, method: str, path: str, query: dict[str, str], raw_body: bytes
    ) -> tuple[int, Any]:
        try:
            body = json.loads(raw_body.decode("utf-8")) if raw_body else {}
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "body must be JSON"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        if method == "GET" and path == "/_fake/received":
            items = self.received(query.get("path") or None)
            openid = query.get("openid")
            if openid:
                items = [r for r in items if isinstance(r.body, dict) and r.body.get("touser") == openid]
            return 200, [r.to_dict() for r in items]
        if method == "GET" and path == "/_fake/stats":
            return 200, {"token_fetch_count": self.token_fetch_count, "received": len(self.received())}
        if method == "POST" and path == "/_fake/fail_next":
            try:
                self.fail_next(
                    str(body["path"]), int(body["errcode"]), int(body.get("times", 1)), body.get("errmsg")
                )
            except (KeyError, TypeError, ValueError) as exc:
                return 400, {"error": f"need path, errcode[, times, errmsg]: {exc}"}
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/delay":
            try:
                self.set_delay(str(body["path"]), float(body["seconds"]))
            except (KeyError, TypeError, ValueError) as exc:
                return 400, {"error": f"need path, seconds: {exc}"}
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/expire_tokens":
            self.expire_tokens()
            return 200, {"ok": True}
        return 404, {"error": f"unknown control endpoint {method} {path}"}


class _QuietThreadingHTTPServer(ThreadingHTTPServer):
    """Does not print tracebacks for connections the client (or stop()) cut."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def _make_handler(server: FakeWeChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, a keep-alive client waits
        # for the delayed ACK (~40 ms) on every call.
        disable_nagle_algorithm = True
        server_version = "FakeWeChat/1.0"

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet; the recorder is the log."""

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _send_json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            raw = self._read_body()
            path = parts.path
            if path.startswith("/_fake/"):
                status, payload = server._handle_control(method, path, query, raw)
                self._send_json(status, payload)
                return
            result = server._handle_api(method, path, query, raw)
            # WeChat answers HTTP 200 for API errors; only unknown paths get a 404.
            self._send_json(404 if result.get("errcode") == 404 else 200, result)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Run the fake server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bot.fake_wechat", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--token-ttl", type=int, default=TOKEN_TTL_SECONDS, help="token lifetime in seconds")
    args = parser.parse_args(argv)
    server = FakeWeChatServer(
        args.app_id, args.app_secret, args.host, args.port, token_ttl_seconds=args.token_ttl
    ).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
