"""Every /api/ response the test suite provokes is checked against the OpenAPI document:
its status must be documented for the operation, and its JSON body must match the schema."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from flask import Flask, Response, request
from openapi_schema_validator import OAS31Validator

API_PREFIX = "/api/v1"
FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


class ContractChecker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.failures: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def validator(self, schema: dict[str, Any]) -> OAS31Validator:
        # $refs resolve against the whole document.
        return OAS31Validator({**schema, "components": self.document["components"]})

    def operation_for(self, rule: str | None, method: str) -> tuple[str, dict[str, Any] | None]:
        if rule is None or not rule.startswith(API_PREFIX):
            return "(routing)", None
        template = FLASK_PARAM.sub(r"{\1}", rule[len(API_PREFIX):])
        return f"{method} {template}", self.document["paths"].get(template, {}).get(method.lower())

    def check(self, *, rule: str | None, method: str, status: int, content_type: str | None, body: bytes) -> None:
        name, operation = self.operation_for(rule, method)
        problems: list[str] = []
        if method == "HEAD":
            return
        if operation is None:
            # Refused before reaching an operation (unknown path, method not allowed): the error shape.
            if status not in (404, 405):
                problems.append(f"status {status} outside any operation")
            schema: dict[str, Any] | None = {"$ref": "#/components/schemas/Error"}
        else:
            documented = operation["responses"].get(str(status))
            if documented is None:
                problems.append(f"undocumented status {status}")
                schema = None
            else:
                schema = documented["content"]["application/json"]["schema"]
        if content_type != "application/json":
            problems.append(f"content type {content_type!r}")
        elif schema is not None:
            try:
                payload = json.loads(body)
            except ValueError:
                problems.append("body is not JSON")
            else:
                problems.extend(e.message for e in self.validator(schema).iter_errors(payload))
        with self._lock:
            self.checked += 1
            self.failures.extend(f"{name} -> {status}: {p}" for p in problems)

    def install(self, app: Flask) -> None:
        def after(response: Response) -> Response:
            if request.path.startswith("/api/"):
                rule = request.url_rule.rule if request.url_rule is not None else None
                self.check(rule=rule, method=request.method, status=response.status_code,
                           content_type=response.mimetype, body=response.get_data())
            return response

        app.after_request(after)
