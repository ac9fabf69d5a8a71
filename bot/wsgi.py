"""WSGI entry point for production: `gunicorn -c deploy/gunicorn.conf.py bot.wsgi:app`.

Each worker builds its app from the environment (config.yaml + QIANJIA_* + DATABASE_URL),
logs through the redacting handler, and loads the classifier in a background thread:
/readyz answers 503 "loading" until it is in memory, so the load balancer sends customers
only to workers that can answer them within WeChat's 5 seconds.
"""

from __future__ import annotations

import logging
import threading

from bot.app import create_app
from core.config import load_config
from core.logging import configure_logging
from services.runtime import Runtime

log = logging.getLogger(__name__)


def load_model_in_background(runtime: Runtime) -> threading.Thread:
    def load() -> None:
        try:
            runtime.analyzer  # noqa: B018
            log.info("classifier loaded")
        except Exception:
            log.exception("classifier failed to load: /readyz stays at loading")

    thread = threading.Thread(target=load, name="qianjia-model-loader", daemon=True)
    thread.start()
    return thread


cfg = load_config()
configure_logging(cfg)
app = create_app(cfg)
load_model_in_background(app.extensions["qianjia.runtime"])
