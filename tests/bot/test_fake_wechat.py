"""The fake WeChat API server, over real HTTP on loopback."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.fake_wechat import FakeWeChatServer

APP_ID = "wxfaketest000001"
APP_SECRET = "fake-test-secret"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(APP_ID, APP_SECRET) as server:
        yield server


def classic_token(fake: FakeWeChatServer, appid: str = APP_ID, secret: str = APP_SECRET) -> dict[str, Any]:
    params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    return requests.get(f"{fake.url}/cgi-bin/token", params=params, timeout=5).json()


def stable_token(fake: FakeWeChatServer, *, force: bool = False, secret: str = APP_SECRET) -> dict[str, Any]:
    body: dict[str, Any] = {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": secret,
        "force_refresh": force,
    }
    return requests.post(f"{fake.url}/cgi-bin/stable_token", json=body, timeout=5).json()


def post(fake: FakeWeChatServer, path: str, body: Any, token: str | None) -> dict[str, Any]:
    params = {"access_token": token} if token is not None else {}
    return requests.post(f"{fake.url}{path}", params=params, json=body, timeout=5).json()


def text_message(openid: str, content: str = "hi") -> dict[str, Any]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def test_url_and_lifecycle() -> None:
    server = FakeWeChatServer(APP_ID, APP_SECRET)
    with pytest.raises(RuntimeError):
        _ = server.url
    server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.port > 0
    finally:
        server.stop()
    server.stop()  # idempotent


def test_classic_token_invalidates_the_previous_one(fake: FakeWeChatServer) -> None:
    first = classic_token(fake)
    assert first["expires_in"] == 7200 and first["access_token"]
    second = classic_token(fake)
    assert second["access_token"] != first["access_token"]
    assert (
        post(fake, "/cgi-bin/message/custom/send", text_message("o1"), first["access_token"])["errcode"]
        == 40001
    )
    assert post(fake, "/cgi-bin/message/custom/send", text_message("o1"), second["access_token"]) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    assert fake.token_fetch_count == 2


def test_stable_token_is_stable_until_forced(fake: FakeWeChatServer) -> None:
    first = stable_token(fake)
    again = stable_token(fake)
    assert again["access_token"] == first["access_token"]
    assert 0 < again["expires_in"] <= 7200
    forced = stable_token(fake, force=True)
    assert forced["access_token"] != first["access_token"]
    assert (
        post(
            fake,
            "/cgi-bin/menu/create",
            {"button": [{"type": "click", "name": "a", "key": "k"}]},
            first["access_token"],
        )["errcode"]
        == 40001
    )
    # Stable and classic tokens are independent of each other, as on WeChat.
    classic = classic_token(fake)
    assert (
        post(fake, "/cgi-bin/message/custom/send", text_message("o1"), forced["access_token"])["errcode"] == 0
    )
    assert (
        post(fake, "/cgi-bin/message/custom/send", text_message("o1"), classic["access_token"])["errcode"]
        == 0
    )
    assert fake.current_token(stable=True) == forced["access_token"]
    assert fake.current_token(stable=False) == classic["access_token"]
    assert fake.token_fetch_count == 4


def test_token_credentials_are_checked(fake: FakeWeChatServer) -> None:
    assert classic_token(fake, secret="wrong") == {"errcode": 40125, "errmsg": "invalid appsecret"}
    assert classic_token(fake, appid="wxother")["errcode"] == 40013
    assert stable_token(fake, secret="wrong")["errcode"] == 40125
    # stable_token is POST-only.
    assert requests.get(f"{fake.url}/cgi-bin/stable_token", timeout=5).json()["errcode"] == 43002
    assert fake.token_fetch_count == 0


def test_api_calls_check_the_token(fake: FakeWeChatServer) -> None:
    path = "/cgi-bin/message/custom/send"
    assert post(fake, path, text_message("o1"), None)["errcode"] == 41001
    assert post(fake, path, text_message("o1"), "made-up")["errcode"] == 40001
    token = stable_token(fake)["access_token"]
    fake.expire_tokens()
    assert post(fake, path, text_message("o1"), token)["errcode"] == 42001
    assert fake.current_token() is None
    fresh = stable_token(fake)["access_token"]
    assert fresh != token
    assert post(fake, path, text_message("o1"), fresh)["errcode"] == 0


def test_token_ttl_expiry() -> None:
    with FakeWeChatServer(APP_ID, APP_SECRET, token_ttl_seconds=1) as fake:
        token = stable_token(fake)["access_token"]
        assert post(fake, "/cgi-bin/message/custom/send", text_message("o1"), token)["errcode"] == 0
        import time

        time.sleep(1.1)
        assert post(fake, "/cgi-bin/message/custom/send", text_message("o1"), token)["errcode"] == 42001
        assert stable_token(fake)["access_token"] != token


def test_messages_are_recorded(fake: FakeWeChatServer) -> None:
    token = stable_token(fake)["access_token"]
    assert post(fake, "/cgi-bin/message/custom/send", text_message("oA", "你好"), token)["errcode"] == 0
    assert post(fake, "/cgi-bin/message/custom/send", text_message("oB"), token)["errcode"] == 0
    news = {"touser": "oA", "msgtype": "news", "news": {"articles": [{"title": "t", "url": "http://x"}]}}
    assert post(fake, "/cgi-bin/message/custom/send", news, token)["errcode"] == 0
    # A message without its msgtype payload is refused and not counted as sent.
    assert (
        post(fake, "/cgi-bin/message/custom/send", {"touser": "oA", "msgtype": "text"}, token)["errcode"]
        == 47001
    )
    first = post(
        fake,
        "/cgi-bin/message/template/send",
        {"touser": "oA", "template_id": "tpl", "data": {"first": {"value": "x"}}},
        token,
    )
    second = post(
        fake, "/cgi-bin/message/template/send", {"touser": "oB", "template_id": "tpl", "data": {}}, token
    )
    assert first["errcode"] == 0 and second["msgid"] == first["msgid"] + 1

    assert [m["text"]["content"] for m in fake.custom_messages("oA") if m["msgtype"] == "text"] == ["你好"]
    assert len(fake.custom_messages()) == 3
    assert len(fake.custom_messages("oA")) == 2
    assert [m["touser"] for m in fake.template_messages()] == ["oA", "oB"]
    assert fake.template_messages("oB")[0]["template_id"] == "tpl"
    sends = fake.received("/cgi-bin/message/custom/send")
    assert len(sends) == 4
    assert sends[0].method == "POST" and sends[0].query["access_token"] == token
    assert sends[-1].errcode == 47001
    assert fake.received("cgi-bin/stable_token")[0].body["appid"] == APP_ID


def test_menu_qrcode_and_robot(fake: FakeWeChatServer) -> None:
    token = stable_token(fake)["access_token"]
    menu = {"button": [{"type": "click", "name": "投诉建议", "key": "FEEDBACK"}]}
    assert post(fake, "/cgi-bin/menu/create", menu, token)["errcode"] == 0
    assert post(fake, "/cgi-bin/menu/create", {"button": []}, token)["errcode"] == 40016
    assert fake.menus() == [menu]

    permanent = post(
        fake,
        "/cgi-bin/qrcode/create",
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "b001"}}},
        token,
    )
    assert permanent["ticket"] and permanent["url"].startswith("http://weixin.qq.com/q/")
    assert "expire_seconds" not in permanent
    temporary = post(
        fake,
        "/cgi-bin/qrcode/create",
        {
            "action_name": "QR_STR_SCENE",
            "expire_seconds": 600,
            "action_info": {"scene": {"scene_str": "b002"}},
        },
        token,
    )
    assert temporary["expire_seconds"] == 600
    assert post(fake, "/cgi-bin/qrcode/create", {"action_name": "BAD"}, token)["errcode"] == 40053
    assert [q["action_info"]["scene"]["scene_str"] for q in fake.qrcodes()] == ["b001", "b002"]

    # The group robot needs no access token, only its key.
    hook = fake.robot_webhook_url("k1")
    reply = requests.post(hook, json={"msgtype": "text", "text": {"content": "告警"}}, timeout=5).json()
    assert reply == {"errcode": 0, "errmsg": "ok"}
    assert (
        requests.post(f"{fake.url}/cgi-bin/webhook/send", json={"msgtype": "text"}, timeout=5).json()[
            "errcode"
        ]
        == 93000
    )
    assert fake.robot_messages() == [{"msgtype": "text", "text": {"content": "告警"}, "_key": "k1"}]


def test_fail_next(fake: FakeWeChatServer) -> None:
    token = stable_token(fake)["access_token"]
    path = "/cgi-bin/message/custom/send"
    fake.fail_next(path, 45015, times=2)
    fake.fail_next("cgi-bin/message/template/send", -1, errmsg="busy!")
    assert post(fake, path, text_message("o1"), token) == {
        "errcode": 45015,
        "errmsg": "response out of time limit or subscription is canceled",
    }
    assert post(fake, path, text_message("o1"), token)["errcode"] == 45015
    assert post(fake, path, text_message("o1"), token)["errcode"] == 0
    assert post(fake, "/cgi-bin/message/template/send", {"touser": "o", "template_id": "t"}, token) == {
        "errcode": -1,
        "errmsg": "busy!",
    }
    assert len(fake.custom_messages()) == 1
    # Token endpoints can fail too.
    fake.fail_next("/cgi-bin/stable_token", 45009)
    assert stable_token(fake)["errcode"] == 45009
    with pytest.raises(ValueError):
        fake.fail_next(path, -1, times=0)


def test_unknown_path_is_404(fake: FakeWeChatServer) -> None:
    response = requests.post(f"{fake.url}/cgi-bin/nope", json={}, timeout=5)
    assert response.status_code == 404


def test_reset(fake: FakeWeChatServer) -> None:
    token = stable_token(fake)["access_token"]
    post(fake, "/cgi-bin/message/custom/send", text_message("o1"), token)
    fake.fail_next("/cgi-bin/menu/create", -1)
    fake.reset()
    assert fake.received() == [] and fake.token_fetch_count == 0
    assert post(fake, "/cgi-bin/message/custom/send", text_message("o1"), token)["errcode"] == 40001
    token = stable_token(fake)["access_token"]
    assert (
        post(fake, "/cgi-bin/menu/create", {"button": [{"type": "click", "name": "a", "key": "k"}]}, token)[
            "errcode"
        ]
        == 0
    )


def test_concurrent_requests_are_all_recorded(fake: FakeWeChatServer) -> None:
    token = stable_token(fake)["access_token"]
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            with requests.Session() as http:
                for j in range(5):
                    body = text_message(f"o{i}", f"m{j}")
                    r = http.post(
                        f"{fake.url}/cgi-bin/message/custom/send",
                        params={"access_token": token},
                        json=body,
                        timeout=5,
                    )
                    assert r.json()["errcode"] == 0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(fake.custom_messages()) == 40
    assert len(fake.custom_messages("o3")) == 5


def test_delay(fake: FakeWeChatServer) -> None:
    import time

    fake.set_delay("/cgi-bin/stable_token", 0.3)
    started = time.monotonic()
    assert stable_token(fake)["access_token"]
    assert time.monotonic() - started >= 0.3
    fake.set_delay("/cgi-bin/stable_token", 0)
    started = time.monotonic()
    stable_token(fake)
    assert time.monotonic() - started < 0.3


def test_http_control_api(fake: FakeWeChatServer) -> None:
    control = f"{fake.url}/_fake"
    assert requests.post(
        f"{control}/fail_next",
        json={"path": "/cgi-bin/message/custom/send", "errcode": 43004, "times": 1},
        timeout=5,
    ).json() == {"ok": True}
    token = stable_token(fake)["access_token"]
    assert post(fake, "/cgi-bin/message/custom/send", text_message("oX"), token)["errcode"] == 43004
    assert post(fake, "/cgi-bin/message/custom/send", text_message("oX", "2"), token)["errcode"] == 0
    assert post(fake, "/cgi-bin/message/custom/send", text_message("oY"), token)["errcode"] == 0

    got = requests.get(
        f"{control}/received", params={"path": "/cgi-bin/message/custom/send", "openid": "oX"}, timeout=5
    ).json()
    assert [(r["errcode"], r["body"]["text"]["content"]) for r in got] == [(43004, "hi"), (0, "2")]
    assert {"method", "path", "query", "body", "time"} <= set(got[0])
    everything = requests.get(f"{control}/received", timeout=5).json()
    assert [r["path"] for r in everything].count("/cgi-bin/stable_token") == 1
    assert requests.get(f"{control}/stats", timeout=5).json()["token_fetch_count"] == 1

    assert requests.post(f"{control}/expire_tokens", timeout=5).json() == {"ok": True}
    assert post(fake, "/cgi-bin/message/custom/send", text_message("oX"), token)["errcode"] == 42001
    assert requests.post(f"{control}/delay", json={"path": "/cgi-bin/token", "seconds": 0}, timeout=5).ok
    assert requests.post(f"{control}/reset", timeout=5).json() == {"ok": True}
    assert requests.get(f"{control}/received", timeout=5).json() == []

    assert requests.post(f"{control}/fail_next", json={"errcode": 1}, timeout=5).status_code == 400
    assert requests.post(f"{control}/fail_next", data=b"not json", timeout=5).status_code == 400
    assert requests.get(f"{control}/nope", timeout=5).status_code == 404


def test_standalone_process() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.fake_wechat",
            "--port",
            "0",
            "--app-id",
            APP_ID,
            "--app-secret",
            APP_SECRET,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        body = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
        token = requests.post(f"{url}/cgi-bin/stable_token", json=body, timeout=5).json()["access_token"]
        assert (
            requests.post(
                f"{url}/cgi-bin/message/custom/send",
                params={"access_token": token},
                json=text_message("oZ"),
                timeout=5,
            ).json()["errcode"]
            == 0
        )
        got = requests.get(f"{url}/_fake/received", params={"openid": "oZ"}, timeout=5).json()
        assert len(got) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
