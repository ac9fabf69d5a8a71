"""Property-based contract tests: schemathesis sends random valid and invalid requests to every
documented operation on the live server; no 5xx, and every answer matches the document."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_schema_validator import OAS31Validator
from schemathesis import GenerationMode

from api.http import IDEMPOTENCY_KEY
from api.openapi import BRANCH_CODE_PATTERN
from core.db import transaction
from services.branches import load_branch_file, upsert_branches
from services.surveys import launch_survey_round
from tests.api.conftest import AppUser, http_transport

# Bounded: two shared cores. Each operation gets this many examples per mode.
MAX_EXAMPLES = 30


def load(live_server: Any) -> Any:
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


def test_the_document_is_valid_openapi_3_1(live_server: Any) -> None:
    schema = load(live_server)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    for name, component in schema.raw_schema["components"]["schemas"].items():
        OAS31Validator.check_schema(component), name
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert {("POST", "/feedback"), ("GET", "/tickets"), ("GET", "/tickets/{number}"),
            ("POST", "/tickets/{number}/replies"), ("POST", "/tickets/{number}/survey"),
            ("GET", "/improvements"), ("GET", "/surveys"), ("POST", "/surveys/{id}/responses")} <= operations


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_operation_keeps_the_contract(live_server: Any, runtime: Any, api_key: Any, mode: GenerationMode) -> None:
    schema = load(live_server)
    user = AppUser(http_transport(live_server.url), api_key, "contract-customer")
    # Give the GET, reply and survey operations a real ticket and round to find, besides the random ids.
    assert user.submit("人民路支行排队太久", client_id="seed").status == 201
    base_url = f"{live_server.url}/api/v1"
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        upsert_branches(session, rows=load_branch_file(), now=now)
        # A running survey round the customer may answer (id 1, the first a generated id tries).
        launch_survey_round(session, name="契约测试调查", branch_codes=[], audience="gave_feedback",
                            starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1), created_by="test",
                            now=now)
    branch_codes = [str(row["code"]) for row in load_branch_file()]

    @schema.auth(refresh_interval=None)
    class SignedCustomer:
        """Fresh signed customer headers per request; left off when a case tests missing auth."""

        def get(self, case: Any, context: Any) -> dict[str, str]:
            return user.auth_headers()

        def set(self, case: Any, data: dict[str, str], context: Any) -> None:
            case.headers = {**(case.headers or {}), **data}

    for result in schema.get_all_operations():
        exercise(result.ok(), mode=mode, base_url=base_url, branch_codes=branch_codes)


def exercise(operation: Any, *, mode: GenerationMode, base_url: str, branch_codes: list[str]) -> None:
    is_post = operation.method.upper() == "POST"

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        # Keep what is invalid invalid; make what is valid also true to the data, like a real client:
        key = (case.headers or {}).get("Idempotency-Key")
        if is_post and (mode is GenerationMode.POSITIVE or (isinstance(key, str) and IDEMPOTENCY_KEY.match(key))):
            # a fresh key per request: generated ones repeat ("0", "0", …), and a reused key with
            # another body is rightly refused (422 idempotency_key_reused);
            case.headers = {**(case.headers or {}), "Idempotency-Key": uuid.uuid4().hex}
        code = case.body.get("branch_code") if isinstance(case.body, dict) else None
        if isinstance(code, str) and re.match(BRANCH_CODE_PATTERN, code):
            # a branch that exists: codes are data, not syntax (an unknown one is 422, tested elsewhere).
            case.body["branch_code"] = branch_codes[hash(code) % len(branch_codes)]
        case.call_and_validate(base_url=base_url)

    check()
