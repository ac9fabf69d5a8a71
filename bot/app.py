"""The Flask application factory: the webhook plus the other blueprints."""

from __future__ import annotations

import logging

from flask import Flask

from api import init_app as init_api
from bot import health
from bot.webhook import WebhookSettings, WebhookState
from bot.webhook import bp as webhook_bp
from core.config import Config, load_config
from handlers import build_router
from handlers.router import Router
from services.runtime import Runtime, build_runtime


def create_app(cfg: Config | None = None, *, runtime: Runtime | None = None, router: Router | None = None) -> Flask:
    """Build the app; a missing required secret fails here with the variable's name."""
    cfg = cfg or (runtime.cfg if runtime else load_config())
    runtime = runtime or build_runtime(cfg)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(cfg.get("server.max_content_length", 1048576))
    app.extensions["qianjia.runtime"] = runtime
    app.extensions["qianjia.webhook"] = WebhookState(
        runtime=runtime,
        router=router or build_router(),
        settings=WebhookSettings.from_config(cfg),
    )
    app.register_blueprint(webhook_bp)
    if cfg.get("console.enabled", True):
        from console import init_console

        init_console(app, runtime)
    init_api(app, runtime)
    health.register(app)
    logging.getLogger(__name__).debug("app created on %s", runtime.engine.url.render_as_string(hide_password=True))
    return app
