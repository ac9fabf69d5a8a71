"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

It is also the API's input contract: request bodies are validated against the schemas
below (api.validation), and the test suite validates every response against it.
Limits come from the `api:` settings, so the document always states the ones in force.
"""

from __future__ import annotations

import copy
from typing import Any

from api.settings import ApiSettings
from models import MAX_INTEGER, TicketStatus
from services.surveys import MAX_COMMENT_CHARS

API_VERSION = "1.0.0"

STATUS_NAMES = {
    TicketStatus.NEW.value: "已受理",
    TicketStatus.OPEN.value: "处理中",
    TicketStatus.PENDING.value: "待您补充",
    TicketStatus.RESOLVED.value: "已解决",
    TicketStatus.CLOSED.value: "已关闭",
    TicketStatus.MERGED.value: "已合并",
}

# ECMA-262 and Python agree on these (explicit ASCII classes, no \d).
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
BRANCH_CODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
CONTACT_PATTERN = r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,120}\.[A-Za-z]{2,24})$"
# "Blank" is what either ECMA-262 or Python counts as white space, so clients and server agree.
BLANK_CHARS = (" \t\n\r\f\v\x1c\x1d\x1e\x1f\x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
               + "\u2028\u2029\u202f\u205f\u3000\ufeff")
NOT_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK_CHARS) + "]"

ERROR_CODES = {
    400: "bad_request, invalid_json, invalid_parameter, unknown_parameter, idempotency_key_required, "
         "invalid_idempotency_key",
    401: "api_key_required, invalid_api_key, api_key_revoked",
    403: "customer_signature_required, invalid_customer_id, invalid_timestamp, signature_expired, "
         "invalid_signature",
    404: "ticket_not_found, survey_not_found, not_found",
    405: "method_not_allowed",
    409: "duplicate_client_id, ticket_closed, survey_not_open, survey_already_answered",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_body, missing_field, unknown_field, invalid_field, unknown_branch, idempotency_key_reused",
    429: "rate_limited",
}

ERROR_DESCRIPTIONS = {
    400: "The request is malformed (not JSON, a bad query parameter, no Idempotency-Key).",
    401: "No API key, an unknown one, or a revoked one.",
    403: "The customer headers are missing, malformed, expired or wrongly signed.",
    404: "No such ticket for this customer (another customer's ticket is reported the same way), or no such survey.",
    405: "The path exists but not with this method.",
    409: "The request contradicts what is stored.",
    413: "The body is larger than the limit.",
    415: "The body is not application/json.",
    422: "A field is missing or invalid, or the Idempotency-Key was used for a different request.",
    429: "Too many requests for this API key; retry after Retry-After seconds.",
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": f"{ERROR_DESCRIPTIONS[status]} Codes: {ERROR_CODES[status]}.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _error_response(status) for status in statuses}


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}


AUTHENTICATED_ERRORS = (401, 403, 429)
POST_ERRORS = (400, 413, 415, 422)

TICKET_NUMBER_PARAM = {
    "name": "number",
    "in": "path",
    "required": True,
    "description": "The ticket number the customer was given, e.g. QJ261128-000123.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 32},
}

IDEMPOTENCY_KEY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "A unique key per logical request (e.g. a UUID). A retry with the same key and body gets "
                   "the first response again (with `Idempotent-Replayed: true`); the same key with another "
                   "request is refused (422 idempotency_key_reused). Keys are remembered for at least a day.",
    "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$"},
}


SURVEY_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The survey round's id, from GET /surveys.",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER},
}


SCORE_DESCRIPTIONS = {"overall": "Overall satisfaction (5 = very satisfied).",
                      "nps": "How likely the customer is to recommend the bank (10 = very likely)."}


def survey_response_schema(settings: ApiSettings, text: dict[str, Any]) -> dict[str, Any]:
    """The whole survey as one body: a property per question of surveys.questions (aspects in one object)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    aspects: dict[str, Any] = {}
    required_aspects: list[str] = []
    for question in settings.survey_questions:
        is_aspect = question.field == "aspect"
        if question.field == "comment":
            schema: dict[str, Any] = {**text, "maxLength": MAX_COMMENT_CHARS,
                                      "description": "Anything else the customer wants to say (personal data is masked)."}
        else:
            description = (settings.category_names.get(question.code, question.code) if is_aspect
                           else SCORE_DESCRIPTIONS.get(question.field, question.code))
            schema = {"type": "integer", "minimum": question.low, "maximum": question.high, "description": description}
        into, needed, name = (aspects, required_aspects, question.code) if is_aspect else (properties, required,
                                                                                           question.field)
        into[name] = schema
        if not question.optional:
            needed.append(name)
    if aspects:
        properties["aspects"] = {"type": "object", "additionalProperties": False, "required": required_aspects,
                                 "properties": aspects, "description": "A score per aspect of the service."}
        required.append("aspects")
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


def build_openapi(settings: ApiSettings) -> dict[str, Any]:
    """The document for these settings (a fresh copy: callers may not share mutations)."""
    text = {"type": "string", "minLength": 1, "maxLength": settings.max_text_chars, "pattern": NOT_BLANK_PATTERN,
            "x-message": "不能为空白",
            # PostgreSQL text cannot hold NUL; refuse it rather than fail on storing it.
            "not": {"pattern": "\\u0000"}}
    timestamp = {"type": "string", "format": "date-time"}
    branch = {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "name"],
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
    }
    summary_properties: dict[str, Any] = {
        "number": {"type": "string", "description": "Ticket number, e.g. QJ261128-000123."},
        "channel": {"type": "string", "enum": ["wechat", "app", "offline"]},
        "status": {"type": "string", "enum": list(STATUS_NAMES)},
        "status_name": {"type": "string", "description": "The status in Chinese, for display."},
        "type": _nullable({"type": "string", "description": "complaint | suggestion | praise | inquiry"}),
        "category": _nullable({"type": "string", "description": "Category code, e.g. wait_time."}),
        "priority": {"type": "string", "enum": ["normal", "urgent"]},
        "branch": {"oneOf": [branch, {"type": "null"}]},
        "text": {"type": "string", "description": "The feedback as stored (personal data masked)."},
        "created_at": timestamp,
        "updated_at": timestamp,
    }
    message = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "from", "text", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "from": {"type": "string", "enum": ["customer", "bank"]},
            "text": {"type": "string"},
            "created_at": timestamp,
        },
    }
    detail_properties = {
        **summary_properties,
        "client_id": _nullable({"type": "string", "description": "The app's own id of this feedback."}),
        "reply_due_at": _nullable({**timestamp, "description": "When the bank's next reply is due, if one is owed."}),
        "resolution_due_at": _nullable(timestamp),
        "resolved_at": _nullable(timestamp),
        "closed_at": _nullable(timestamp),
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "千佳反馈 APP API",
            "version": API_VERSION,
            "description": (
                "Feedback from the bank's mobile app. Every operation except this document needs an API key "
                "(`Authorization: Bearer qjk_…`) and the app's customer id signed with the key's signing secret: "
                "`X-Customer-Id`, `X-Customer-Timestamp` (Unix seconds, within "
                f"{settings.signature_window_seconds} s of the server's clock) and `X-Customer-Signature` = "
                "hex HMAC-SHA256(signing secret, customer id + \"\\n\" + timestamp). "
                f"Each key may make {settings.requests_per_minute} requests a minute unless it has its own limit. "
                f"Request bodies are at most {settings.max_body_bytes} bytes of JSON. Every POST needs an "
                "`Idempotency-Key`. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`: `code` is stable "
                "English, `message` is Chinese for the customer, `field` names the offending field."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": [], "customerId": [], "customerTimestamp": [], "customerSignature": []}],
        "paths": {
            "/feedback": {
                "post": {
                    "operationId": "submitFeedback",
                    "summary": "Submit feedback: it becomes a numbered ticket",
                    "description": "Classified, routed and given SLA deadlines like feedback sent on WeChat. "
                                   "`client_id` is the app's own id: a second submission with it is refused "
                                   "(409 duplicate_client_id, the message names the existing ticket).",
                    "parameters": [IDEMPOTENCY_KEY_PARAM],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/FeedbackRequest"}}}},
                    "responses": {
                        "201": _json("TicketDetail", "The new ticket (or, for a retry, the first response)."),
                        **_errors(*POST_ERRORS, *AUTHENTICATED_ERRORS, 409),
                    },
                },
            },
            "/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "The customer's tickets, newest first",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": settings.max_page_size,
                                    "default": settings.page_size}},
                        {"name": "offset", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}},
                    ],
                    "responses": {
                        "200": _json("TicketList", "One page of tickets."),
                        **_errors(400, *AUTHENTICATED_ERRORS),
                    },
                },
            },
            "/tickets/{number}": {
                "parameters": [TICKET_NUMBER_PARAM],
                "get": {
                    "operationId": "getTicket",
                    "summary": "A ticket's status and its conversation",
                    "responses": {
                        "200": _json("TicketDetail", "The ticket."),
                        **_errors(400, 404, *AUTHENTICATED_ERRORS),
                    },
                },
            },
            "/tickets/{number}/replies": {
                "parameters": [TICKET_NUMBER_PARAM],
                "post": {
                    "operationId": "replyToTicket",
                    "summary": "The customer writes on their ticket",
                    "description": "A ticket waiting for the customer, or resolved, is open again; a closed or "
                                   "merged one refuses (409 ticket_closed).",
                    "parameters": [IDEMPOTENCY_KEY_PARAM],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ReplyRequest"}}}},
                    "responses": {
                        "201": _json("TicketDetail", "The ticket with the reply."),
                        **_errors(*POST_ERRORS, *AUTHENTICATED_ERRORS, 404, 409),
                    },
                },
            },
            "/tickets/{number}/survey": {
                "parameters": [TICKET_NUMBER_PARAM],
                "post": {
                    "operationId": "answerTicketSurvey",
                    "summary": "The customer rates how the ticket was handled (1-5)",
                    "description": "Open for a resolved or closed ticket until "
                                   f"{settings.survey_answer_days:g} days after it was resolved, once per "
                                   "ticket. A low score reopens a resolved ticket with a fresh deadline, "
                                   "exactly as the same answer on WeChat does. Otherwise 409 survey_not_open "
                                   "or survey_already_answered.",
                    "parameters": [IDEMPOTENCY_KEY_PARAM],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SurveyAnswerRequest"}}}},
                    "responses": {
                        "201": _json("SurveyAnswerResult", "The answer is recorded."),
                        **_errors(*POST_ERRORS, *AUTHENTICATED_ERRORS, 404, 409),
                    },
                },
            },
            "/surveys": {
                "get": {
                    "operationId": "listSurveys",
                    "summary": "Satisfaction surveys (满意度调查) the customer may answer",
                    "description": "Running survey rounds the customer was invited to, or whose audience they "
                                   "belong to (they gave feedback about one of the round's branches, or checked in "
                                   "at one; every branch when the round names none). `answered` says whether "
                                   "they already did.",
                    "responses": {
                        "200": _json("SurveyList", "The rounds, invited ones first."),
                        **_errors(400, *AUTHENTICATED_ERRORS),
                    },
                },
            },
            "/surveys/{id}/responses": {
                "parameters": [SURVEY_ID_PARAM],
                "post": {
                    "operationId": "answerSurvey",
                    "summary": "The customer answers a survey round, every question at once",
                    "description": "Once per customer and round (409 survey_already_answered); a round that is "
                                   "not running or not open to this customer is 409 survey_not_open. An overall "
                                   f"score of {settings.survey_low_score} or less, or a comment that reads as a "
                                   "complaint, opens a complaint ticket (`complaint_ticket`), exactly as the same "
                                   "answers on WeChat do; staff replies to it reach the app.",
                    "parameters": [IDEMPOTENCY_KEY_PARAM],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SurveyResponseRequest"}}}},
                    "responses": {
                        "201": _json("SurveyResponseResult", "The response is recorded."),
                        **_errors(*POST_ERRORS, *AUTHENTICATED_ERRORS, 404, 409),
                    },
                },
            },
            "/improvements": {
                "get": {
                    "operationId": "listImprovementNotices",
                    "summary": "Service improvement notices (服务改进公告) for the customer, newest first",
                    "description": "Improvements answering the customer's own tickets, those they were told "
                                   f"about, and those published in the last {settings.notice_recent_days} days.",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": settings.max_page_size,
                                    "default": settings.page_size}},
                    ],
                    "responses": {
                        "200": _json("ImprovementList", "The notices."),
                        **_errors(400, *AUTHENTICATED_ERRORS),
                    },
                },
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                          "content": {"application/json": {"schema": {"type": "object"}}}},
                                  **_errors(400)},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "The API key printed once by `qianjia apikey create NAME`."},
                "customerId": {"type": "apiKey", "in": "header", "name": "X-Customer-Id",
                               "description": "The app's own customer id: 1-64 of A-Z a-z 0-9 _ . : @ -."},
                "customerTimestamp": {"type": "apiKey", "in": "header", "name": "X-Customer-Timestamp",
                                      "description": "Unix time in seconds when the id was signed."},
                "customerSignature": {"type": "apiKey", "in": "header", "name": "X-Customer-Signature",
                                      "description": "hex HMAC-SHA256(signing secret, id + \"\\n\" + timestamp)."},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                        },
                    }},
                },
                "FeedbackRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["text", "client_id"],
                    "properties": {
                        "text": {**text, "description": "What the customer wants to tell the bank."},
                        "client_id": {"type": "string", "pattern": CLIENT_ID_PATTERN,
                                      "x-message": "应为 1-64 个字母、数字或 _.:-",
                                      "description": "The app's own id of this feedback (e.g. a UUID)."},
                        "branch_code": {"type": "string", "pattern": BRANCH_CODE_PATTERN,
                                        "x-message": "应为 1-32 个字母、数字、_ 或 -",
                                        "description": "The branch the feedback is about, if the customer chose one."},
                        "contact": {"type": "string", "maxLength": 128, "pattern": CONTACT_PATTERN,
                                    "x-message": "应为手机号、座机号（如 021-12345678）或电子邮箱",
                                    "description": "A phone number or e-mail for a call back; seen only by staff."},
                    },
                },
                "ReplyRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["text"],
                    "properties": {"text": text},
                },
                "SurveyAnswerRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["score"],
                    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5,
                                             "description": "5 = very satisfied, 1 = very dissatisfied."}},
                },
                "SurveyAnswerResult": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["ticket", "message"],
                    "properties": {
                        "ticket": {"$ref": "#/components/schemas/TicketDetail"},
                        "message": {"type": "string", "description": "The bank's answer, for display."},
                    },
                },
                "Survey": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "name", "branch_codes", "starts_at", "ends_at", "answered"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string", "description": "e.g. 2026年第四季度满意度调查"},
                        "branch_codes": {"type": "array", "items": {"type": "string"},
                                         "description": "The branches the round is about; empty = every branch."},
                        "starts_at": timestamp,
                        "ends_at": timestamp,
                        "answered": {"type": "boolean"},
                    },
                },
                "SurveyList": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["surveys"],
                    "properties": {"surveys": {"type": "array", "items": {"$ref": "#/components/schemas/Survey"}}},
                },
                "SurveyResponseRequest": survey_response_schema(settings, text),
                "SurveyResponseResult": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["survey", "message", "complaint_ticket"],
                    "properties": {
                        "survey": {"$ref": "#/components/schemas/Survey"},
                        "message": {"type": "string", "description": "The bank's thanks, for display."},
                        "complaint_ticket": _nullable({"type": "string",
                                                       "description": "The number of the complaint ticket the "
                                                                      "answers opened, if any."}),
                    },
                },
                "ImprovementNotice": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "title", "body", "category", "effective_date", "published_at", "tickets"],
                    "properties": {
                        "id": {"type": "integer"},
                        "title": {"type": "string"},
                        "body": {"type": "string"},
                        "category": _nullable({"type": "string"}),
                        "effective_date": _nullable({"type": "string", "format": "date"}),
                        "published_at": timestamp,
                        "tickets": {"type": "array", "items": {"type": "string"},
                                    "description": "The customer's own tickets this improvement answers."},
                    },
                },
                "ImprovementList": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["improvements"],
                    "properties": {"improvements": {"type": "array",
                                                    "items": {"$ref": "#/components/schemas/ImprovementNotice"}}},
                },
                "Message": message,
                "TicketSummary": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(summary_properties),
                    "properties": summary_properties,
                },
                "TicketDetail": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(detail_properties),
                    "properties": detail_properties,
                },
                "TicketList": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["tickets", "total", "limit", "offset"],
                    "properties": {
                        "tickets": {"type": "array", "items": {"$ref": "#/components/schemas/TicketSummary"}},
                        "total": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer", "minimum": 1},
                        "offset": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    }
    return copy.deepcopy(doc)
