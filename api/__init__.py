"""The APP channel: a versioned JSON API (/api/v1) for the bank's mobile app over the same services."""

from __future__ import annotations

from flask import Flask

from api.http import ApiState
from api.openapi import build_openapi
from api.settings import ApiSettings
from api.validation import BodyValidator
from services.rate_limits import build_rate_limiter
from services.runtime import Runtime

REQUEST_SCHEMAS = ("FeedbackRequest", "ReplyRequest", "SurveyAnswerRequest", "SurveyResponseRequest")


def init_app(app: Flask, runtime: Runtime) -> None:
    """Mount /api/v1 on the app (settings and the rate-limit store are read here, once)."""
    from api.views import bp

    settings = ApiSettings.from_config(runtime.cfg)
    document = build_openapi(settings)
    app.extensions["qianjia.api"] = ApiState(
        runtime=runtime,
        settings=settings,
        limiter=build_rate_limiter(runtime.cfg, runtime.sessions),
        document=document,
        validators={name: BodyValidator(document, name) for name in REQUEST_SCHEMAS},
    )
    app.register_blueprint(bp)
