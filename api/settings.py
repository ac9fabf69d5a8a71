"""The API's settings, read once from config.yaml's `api:` section."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Config, ConfigError
from services.surveys import Question, questions


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int
    max_text_chars: int
    signature_window_seconds: int
    requests_per_minute: int
    page_size: int
    max_page_size: int
    # Read from issue 4's and 5's sections, so the document states the limits in force.
    survey_answer_days: float
    notice_recent_days: int
    # Issue 4's survey questions (the app's survey form) and the low score that opens a complaint.
    survey_questions: tuple[Question, ...]
    survey_low_score: int
    # Category code -> name (labels.categories), naming the survey's aspects.
    category_names: dict[str, str]

    @classmethod
    def from_config(cls, cfg: Config) -> ApiSettings:
        settings = cls(
            max_body_bytes=int(cfg.get("api.max_body_bytes", 16384)),
            max_text_chars=int(cfg.get("api.max_text_chars", 2000)),
            signature_window_seconds=int(cfg.get("api.signature_window_seconds", 300)),
            requests_per_minute=int(cfg.get("api.rate_limit.requests_per_minute", 120)),
            page_size=int(cfg.get("api.page_size", 20)),
            max_page_size=int(cfg.get("api.max_page_size", 100)),
            survey_answer_days=float(cfg.get("surveys.resolution_check.answer_within_days", 7)),
            notice_recent_days=int(cfg.get("notices.menu_recent_days", 90)),
            survey_questions=tuple(questions(cfg)),
            survey_low_score=int(cfg.get("surveys.low_score_threshold", 2)),
            category_names={str(k): str(v) for k, v in (cfg.section("labels").get("categories") or {}).items()},
        )
        own = ("max_body_bytes", "max_text_chars", "signature_window_seconds", "requests_per_minute", "page_size",
               "max_page_size")
        for name in own:
            value = getattr(settings, name)
            if value < 1:
                raise ConfigError(f"配置 api 中的 {name} 必须是正整数（现为 {value}）")
        if settings.page_size > settings.max_page_size:
            raise ConfigError("配置 api.page_size 不能大于 api.max_page_size")
        return settings
