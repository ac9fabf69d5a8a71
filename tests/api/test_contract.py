"""Property-based contract tests: schemathesis sends random valid and invalid requests to every
documented operation on the live server; no 5xx, and every answer matches the document."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_schema_validator import OAS31Validator
from schemathesis import GenerationMode

from core.db import transaction
from services.branches import load_branch_file, upsert_branches
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
            ("POST", "/tickets/{number}/replies")} <= operations


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_operation_keeps_the_contract(live_server: Any, runtime: Any, api_key: Any, mode: GenerationMode) -> None:
    schema = load(live_server)
    user = AppUser(http_transport(live_server.url), api_key, "contract-customer")
    # Give the GET and reply operations a real ticket to find, besides the random numbers.
    assert user.submit("人民路支行排队太久", client_id="seed").status == 201
    base_url = f"{live_server.url}/api/v1"
    with transaction(runtime.sessions) as session:
        upsert_branches(session, rows=load_branch_file(), now=runtime.clock.now())
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
    fresh_keys = mode is GenerationMode.POSITIVE and operation.method.upper() == "POST"

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        if fresh_keys:
            # A real client uses a fresh key per request; generated ones repeat ("0", "0", …) and a
            # reused key with another body is rightly refused (422). Invalid keys are the other mode's.
            case.headers = {**(case.headers or {}), "Idempotency-Key": uuid.uuid4().hex}
            if isinstance(case.body, dict) and "branch_code" in case.body:
                # Branch codes are data, not syntax: an unknown one is refused (422, tested elsewhere).
                case.body["branch_code"] = branch_codes[hash(case.body["branch_code"]) % len(branch_codes)]
        case.call_and_validate(base_url=base_url)

    check()
