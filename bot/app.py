"""The Flask application factory: the webhook plus the other blueprints."""

from __future__ import annotations

import logging

from flask import Flask

from api import init_app as init_api
from bot import health
from bot.webhook import WebhookSettings, WebhookState
from bot.webhook import bp as webhook_bp
from core.config import Config, ConfigError, load_config
from handlers import build_router
from handlers.router import Router
from services.runtime import Runtime, build_runtime


def create_app(cfg: Config | None = None, *, runtime: Runtime | None = None, router: Router | None = None) -> Flask:
    """Build the app; a missing required secret fails here with the variable's name."""
    cfg = cfg or (runtime.cfg if runtime else load_config())
    runtime = runtime or build_runtime(cfg)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(cfg.get("server.max_content_length", 1048576))
    proxies = trusted_proxies(cfg)
    if proxies:
        # Behind nginx: the client's address and scheme come from the X-Forwarded-* headers the proxies
        # set (the sign-in throttle and the audit log need the real address), trusting only that many hops.
        from werkzeug.middleware.proxy_fix import ProxyFix

        fixed = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
        app.wsgi_app = fixed  # type: ignore[method-assign]
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


def trusted_proxies(cfg: Config) -> int:
    """server.trusted_proxies: how many reverse proxies' X-Forwarded-* hops to believe (0 = none)."""
    raw = cfg.get("server.trusted_proxies", 0)
    try:
        proxies = int(raw)
    except (TypeError, ValueError):
        proxies = -1
    if proxies < 0:
        raise ConfigError(f"server.trusted_proxies（QIANJIA_SERVER__TRUSTED_PROXIES）须为 0 或正整数，当前为 {raw!r}")
    return proxies
