"""The per-process runtime: config, database, clock, texts, classifier and WeChat API.

The Flask app, the scheduler and the CLI each build one and hand it to the services.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, SystemClock
from core.config import ROOT, Config
from core.db import get_engine, read_only_sessions, session_factory
from services.texts import Texts

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.wechat_api import WeChatAPI
    from nlp import Analyzer


@dataclass
class Runtime:
    cfg: Config
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    texts: Texts
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _analyzer: Analyzer | None = field(default=None, repr=False)
    _wechat_api: WeChatAPI | None = field(default=None, repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(str(self.cfg.get("timezone", "Asia/Shanghai")))

    @property
    def analyzer(self) -> Analyzer:
        """The classifier, loaded (or trained from the shipped corpus) once per process."""
        with self._lock:
            if self._analyzer is None:
                from nlp import Analyzer, load_or_train

                model_dir = Path(str(self.cfg.get("nlp.model_dir", "var/model")))
                if not model_dir.is_absolute():
                    model_dir = ROOT / model_dir
                extra: list[tuple[str, str, str]] = []
                if self.cfg.get("nlp.use_corrections", True):
                    from sqlalchemy.exc import SQLAlchemyError

                    from services.corrections import training_examples

                    try:
                        # A read-only snapshot: the caller may be inside a write transaction.
                        with read_only_sessions(self.engine)() as session:
                            extra = training_examples(session)
                    except SQLAlchemyError as exc:
                        # No (migrated) database, e.g. `qianjia classify` on a fresh clone: corpus only.
                        log.warning("classifier corrections not loaded: %s", type(exc).__name__)
                # Trains from the shipped corpus (+ corrections) when no matching artefact is cached.
                model = load_or_train(model_dir, extra_examples=extra)
                urgency: Any = self.cfg.section("nlp").get("urgency") or None
                self._analyzer = Analyzer(
                    model,
                    category_teams=self.cfg.section("routing").get("categories", {}),
                    triage_threshold=float(self.cfg.get("nlp.triage_threshold", 0.5)),
                    urgency_rules=urgency,
                )
            return self._analyzer

    @property
    def analyzer_loaded(self) -> bool:
        """True once `analyzer` has been loaded in this process (never triggers a load)."""
        return self._analyzer is not None

    @property
    def wechat_api(self) -> WeChatAPI:
        """The WeChat API client (needs QIANJIA_WECHAT__APP_ID / APP_SECRET)."""
        with self._lock:
            if self._wechat_api is None:
                from bot.wechat_api import build_wechat_api

                self._wechat_api = build_wechat_api(self.cfg, self.sessions, self.clock)
            return self._wechat_api


def build_runtime(cfg: Config, *, clock: Clock | None = None) -> Runtime:
    engine = get_engine(cfg.database_url)
    return Runtime(
        cfg=cfg,
        engine=engine,
        sessions=session_factory(engine),
        clock=clock or SystemClock(),
        texts=Texts(cfg.section("messages")),
    )
