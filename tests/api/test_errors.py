"""One JSON error shape for everything under /api/, including routing refusals."""

from __future__ import annotations

from typing import Any


def test_unknown_path_is_a_json_404(app_user: Any) -> None:
    reply = app_user().request("GET", "/no-such-thing")
    assert reply.status == 404 and reply.error["code"] == "not_found"
    assert reply.headers["Content-Type"] == "application/json"


def test_wrong_method_is_a_json_405_with_allow(app_user: Any) -> None:
    user = app_user()
    number = user.submit("排队太久").json["number"]
    for method, path, allowed in (("DELETE", f"/tickets/{number}", "GET"), ("GET", "/feedback", "POST"),
                                  ("PUT", "/tickets", "GET"), ("OPTIONS", "/feedback", "POST")):
        reply = user.request(method, path)
        assert reply.status == 405 and reply.error["code"] == "method_not_allowed", (method, path)
        assert allowed in reply.headers["Allow"]


def test_other_paths_keep_their_own_errors(client: Any) -> None:
    resp = client.get("/definitely-not-here")
    assert resp.status_code == 404 and resp.mimetype != "application/json"
