"""gunicorn settings for the web nodes: `gunicorn -c deploy/gunicorn.conf.py bot.wsgi:app`.

Every value can be overridden from the environment (names below) or the command line.
Sizing: see deploy/README.md (the lead's bench/webhook measures messages/s per worker).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

# Behind the load balancer (nginx) on the node's private address.
bind = os.environ.get("QIANJIA_BIND", "127.0.0.1:8080")
# Classification and AES are CPU work: one process per core; threads overlap database waits.
workers = int(os.environ.get("QIANJIA_WEB_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("QIANJIA_WEB_THREADS", 4))
# WeChat gives up after 5 s and retries; a worker stuck far longer than that is restarted.
timeout = int(os.environ.get("QIANJIA_WEB_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Each worker loads its own model (bot/wsgi.py); preloading would fork one loader thread away.
preload_app = False
# X-Forwarded-* from the load balancer only.
forwarded_allow_ips = os.environ.get("QIANJIA_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Access lines without the query string (it carries the openid and signatures), with the
# request id the app answered with; they go through the app's redacting JSON/text handler.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("QIANJIA_LOGGING__LEVEL", "info").lower()

# Prometheus multiprocess mode: the workers share their counters through files here.
# systemd sets it to a RuntimeDirectory; otherwise a fresh temporary directory is used.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="qianjia-prometheus-")


class QianjiaLogger(Logger):
    """gunicorn's own lines (boot, worker exits, access) through the app's redacting handler."""

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        from core.config import load_config
        from core.logging import configure_logging

        configure_logging(load_config())
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


logger_class = QianjiaLogger


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start from an empty metrics directory: stale files from a previous run would be summed."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from core.metrics import mark_process_dead

    mark_process_dead(worker.pid)
