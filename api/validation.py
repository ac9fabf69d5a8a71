"""Request bodies checked against the OpenAPI document's own schemas, refused in Chinese
with the offending field named."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from api.errors import ApiError

TYPE_NAMES = {
    "string": "字符串",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值",
    "object": "对象",
    "array": "数组",
    "null": "null",
}


class BodyValidator:
    """Validates against one components/schemas entry of the document."""

    def __init__(self, document: dict[str, Any], name: str) -> None:
        schema = document["components"]["schemas"][name]
        # Nested $refs resolve against the whole document.
        self._validator = Draft202012Validator({**schema, "components": document["components"]})

    def validate(self, payload: Any) -> dict[str, Any]:
        errors = sorted(self._validator.iter_errors(payload), key=_error_order)
        if errors:
            raise _refusal(errors[0])
        return payload  # type: ignore[no-any-return]


# One error is reported: the body's shape first (type, missing, unknown fields), then
# the first bad field by name, and for one field the most telling keyword.
KEYWORD_ORDER = ("type", "required", "additionalProperties", "minLength", "maxLength", "pattern")


def _error_order(error: ValidationError) -> tuple[int, list[str], int]:
    keyword = str(error.validator)
    rank = KEYWORD_ORDER.index(keyword) if keyword in KEYWORD_ORDER else len(KEYWORD_ORDER)
    return len(error.absolute_path), [str(p) for p in error.absolute_path], rank


def _field(error: ValidationError) -> str | None:
    return ".".join(str(p) for p in error.absolute_path) or None


def _refusal(error: ValidationError) -> ApiError:
    keyword = error.validator
    field = _field(error)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if field is None and keyword == "type":
        return ApiError(422, "invalid_body", "请求体必须是 JSON 对象")
    if keyword == "required":
        missing = next(p for p in error.validator_value if p not in error.instance)
        name = f"{field}.{missing}" if field else missing
        return ApiError(422, "missing_field", f"缺少必填字段 {name}", field=name)
    if keyword == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = min(p for p in error.instance if p not in known)
        name = f"{field}.{extra}" if field else extra
        return ApiError(422, "unknown_field", f"不支持的字段 {name}", field=name)
    name = field or "body"
    if keyword == "type":
        expected = error.validator_value
        wanted = "或".join(TYPE_NAMES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        return ApiError(422, "invalid_field", f"字段 {name} 应为{wanted}", field=name)
    if keyword == "minLength" and error.validator_value == 1:
        return ApiError(422, "invalid_field", f"字段 {name} 不能为空", field=name)
    if keyword == "maxLength":
        return ApiError(422, "invalid_field", f"字段 {name} 不能超过 {error.validator_value} 个字符", field=name)
    if keyword in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        return ApiError(422, "invalid_field", f"字段 {name} 应在 {low} 到 {high} 之间", field=name)
    if keyword == "not":
        return ApiError(422, "invalid_field", f"字段 {name} 不能包含空字符（\\u0000）", field=name)
    hint = schema.get("x-message")
    message = f"字段 {name} {hint}" if hint else f"字段 {name} 的值无效"
    return ApiError(422, "invalid_field", message, field=name)
