"""The feedback team's console: a Flask blueprint over the same services as the bot.

`init_console(app, runtime)` sets the cookie-session settings and registers the blueprint.
Permission rules live in the services (services/access.py); the views only translate
their outcomes: not found or out of scope → 404, role not allowed → 403, bad input → a message.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from services.runtime import Runtime


def init_console(app: Flask, runtime: Runtime) -> None:
    """Mount the console at console.url_prefix; needs QIANJIA_CONSOLE__SECRET_KEY."""
    from console import (  # noqa: F401  (routes register on import)
        views_admin,
        views_extra,
        views_improvements,
        views_surveys,
        views_tickets,
    )
    from console.web import bp

    cfg = runtime.cfg
    prefix = str(cfg.get("console.url_prefix", "/console")).rstrip("/") or "/console"
    app.secret_key = str(cfg.require("console.secret_key"))
    app.config.update(
        SESSION_COOKIE_NAME="qianjia_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(cfg.get("console.cookie_secure", True)),
        SESSION_COOKIE_PATH=prefix,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=float(cfg.get("console.session_hours", 12))),
    )
    app.register_blueprint(bp, url_prefix=prefix)
