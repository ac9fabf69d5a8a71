"""Readiness checks shared by /readyz and `qianjia doctor`: database, migrations, model, WeChat.

Each check returns a `Check` whose `hint` (Chinese, for operators) says what to do,
naming the environment variable to set.  Nothing here trains the model or changes data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Config, ConfigError, env_name

if TYPE_CHECKING:
    from services.runtime import Runtime

OK, FAIL, LOADING, WARN, SKIPPED = "ok", "fail", "loading", "warn", "skipped"

# Secrets the webhook and the WeChat API need, by message encryption mode.
_ALWAYS = ("wechat.token", "wechat.app_id", "wechat.app_secret")
_ENCRYPTED_MODES = ("safe", "compatible")


@dataclass(frozen=True)
class Check:
    status: str  # ok | fail | loading | warn | skipped
    detail: str = ""  # what was found (no secrets, no connection strings)
    hint: str = ""  # how to fix it, in Chinese
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in (OK, WARN, SKIPPED)

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v not in ("", {})}
        out.update(out.pop("data", {}))
        return out


def _database_env() -> str:
    return f"DATABASE_URL（或 {env_name('database.url')}）"


def check_database(runtime: Runtime) -> Check:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return Check(FAIL, f"无法连接数据库（{type(exc.orig or exc).__name__}）",
                     f"请确认数据库已启动、网络可达，并检查环境变量 {_database_env()}中的地址、用户名和密码")
    return Check(OK, runtime.engine.dialect.name)


def check_migrations(runtime: Runtime) -> Check:
    from core.db import migration_status

    try:
        current, head = migration_status(runtime.engine)
    except SQLAlchemyError as exc:
        return Check(FAIL, f"无法读取数据库版本（{type(exc.orig or exc).__name__}）",
                     f"先修复数据库连接（环境变量 {_database_env()}）")
    data = {"current": current, "head": head}
    if current != head:
        return Check(FAIL, f"数据库版本 {current or '空'}，代码需要 {head}",
                     "请运行 qianjia db upgrade 迁移数据库", data)
    return Check(OK, str(head), data=data)


def check_model_loaded(runtime: Runtime) -> Check:
    """Loaded in this process? `loading` until then; never starts a load itself."""
    if runtime.analyzer_loaded:
        return Check(OK)
    return Check(LOADING, "分类模型正在加载", "等待加载完成；若一直如此，请查看日志中的模型加载错误")


def required_wechat_keys(cfg: Config) -> list[str]:
    keys = list(_ALWAYS)
    if str(cfg.get("wechat.mode", "safe")).lower() in _ENCRYPTED_MODES:
        keys.append("wechat.encoding_aes_key")
    return keys


def check_wechat_credentials(cfg: Config) -> Check:
    missing = [key for key in required_wechat_keys(cfg) if not cfg.get(key)]
    if missing:
        names = "、".join(env_name(key) for key in missing)
        return Check(FAIL, "缺少微信公众号密钥", f"请设置环境变量 {names}", {"missing": [env_name(k) for k in missing]})
    return Check(OK, f"mode={cfg.get('wechat.mode', 'safe')}")


def readiness(runtime: Runtime) -> dict[str, Check]:
    """What /readyz reports; the app is ready when every check is ok."""
    checks = {"database": check_database(runtime)}
    if checks["database"].status == OK:
        checks["migrations"] = check_migrations(runtime)
    else:
        checks["migrations"] = Check(FAIL, "数据库不可用", checks["database"].hint)
    checks["model"] = check_model_loaded(runtime)
    checks["wechat_credentials"] = check_wechat_credentials(runtime.cfg)
    return checks


def is_ready(checks: dict[str, Check]) -> bool:
    return all(c.status == OK for c in checks.values())


# -- doctor-only checks (they may be slow or touch the outside world) ----------------------

_WECHAT_HINTS: dict[int, str] = {
    40013: f"AppID 不正确：请检查环境变量 {env_name('wechat.app_id')}",
    40125: f"AppSecret 不正确：请在公众号后台核对并重新设置环境变量 {env_name('wechat.app_secret')}",
    40164: "本机 IP 不在公众号的 IP 白名单中：请在公众号后台“基本配置”里添加本机出口 IP",
    -1: f"微信接口暂时不可用或网络不通：请检查网络、代理及 {env_name('wechat.api_base_url')}",
    -2: f"微信接口地址返回的不是微信的应答：请检查环境变量 {env_name('wechat.api_base_url')}",
}


def check_wechat_api(runtime: Runtime, *, database_ok: bool) -> Check:
    """Fetch the access token (not forced) from the configured base URL, as the app would."""
    from bot.wechat_api import DatabaseTokenStore, WeChatAPIError

    cfg = runtime.cfg
    base = str(cfg.get("wechat.api_base_url", ""))
    try:
        api = runtime.wechat_api
    except ConfigError as exc:
        return Check(FAIL, "微信接口未配置", str(exc))
    cached = None
    try:
        if not database_ok and isinstance(api.token_store, DatabaseTokenStore):
            return Check(SKIPPED, "access_token 保存在数据库中，数据库不可用时无法检查", f"先修复数据库连接（{_database_env()}）")
        cached = api.token_store.peek(api.app_id)
        api.fetch_token(force=False)
        if cached is not None and cached.is_fresh(runtime.clock.now(), api.refresh_margin_seconds) \
                and api.client.use_stable_token:
            # The shared token was still valid, so nothing reached WeChat: check the AppSecret
            # itself (a non-forced stable_token call neither invalidates nor counts against quota).
            api.client.fetch_access_token(force_refresh=False)
    except WeChatAPIError as exc:
        hint = _WECHAT_HINTS.get(exc.errcode, f"请根据微信错误码 {exc.errcode} 排查（{base}）")
        return Check(FAIL, f"获取 access_token 失败：错误码 {exc.errcode} {exc.errmsg}", hint,
                     {"errcode": exc.errcode})
    except SQLAlchemyError as exc:
        return Check(FAIL, f"access_token 共享存储不可用（{type(exc).__name__}）", f"先修复数据库连接（{_database_env()}）")
    source = "共享缓存" if cached is not None else "微信接口"
    return Check(OK, f"access_token 已获取（来自{source}，{base}）")


def check_model_files(runtime: Runtime) -> Check:
    """Is a trained model cached where the app looks (else the first start trains one)?"""
    from pathlib import Path

    from core.config import ROOT
    from nlp.model import MODEL_FILE

    model_dir = Path(str(runtime.cfg.get("nlp.model_dir", "var/model")))
    if not model_dir.is_absolute():
        model_dir = ROOT / model_dir
    if not (model_dir / MODEL_FILE).is_file():
        return Check(WARN, f"{model_dir} 中还没有训练好的模型",
                     f"首次启动会自动训练（不到一分钟）；可预先运行 qianjia serve 一次，或设置 {env_name('nlp.model_dir')}")
    return Check(OK, str(model_dir))


def check_calendar(cfg: Config, *, now: datetime) -> Check:
    """The business calendar of sla.business_hours_teams: valid, and holding this year's public holidays.

    The State Council publishes next year's holiday arrangement around November; a calendar without
    the current year's holidays counts Spring Festival as working days for these teams' deadlines.
    """
    from services.calendar import business_calendar, business_hours_teams

    sla = cfg.section("sla")
    teams = business_hours_teams(sla)
    if not teams:
        return Check(OK, "各小组均按自然小时计时（未启用工作日历）")
    holidays_env = env_name("sla.calendar.holidays")
    try:
        calendar = business_calendar(sla)
    except (ValueError, TypeError, KeyError) as exc:
        return Check(FAIL, f"工作日历配置有误：{exc}",
                     f"修改 config.yaml 中的 sla.calendar（或对应的环境变量，如 {holidays_env}）")
    assert calendar is not None  # some team counts working hours
    today = now.astimezone(calendar.tz).date()
    years = sorted({day.year for day in calendar.holidays})
    listed = "、".join(str(y) for y in years) or "无"
    hint = (f"按国务院办公厅当年的节假日安排通知，在 config.yaml 的 sla.calendar.holidays 和 workdays"
            f"（或 {holidays_env}、{env_name('sla.calendar.workdays')}）中补上")
    data = {"teams": teams, "holiday_years": years}
    if today.year not in years:
        return Check(WARN, f"工作日历中没有 {today.year} 年的法定节假日（已配置：{listed}）；"
                           f"{'、'.join(teams)} 的时限会把节假日算作工作日", hint, data)
    if today.month >= 11 and today.year + 1 not in years:
        return Check(WARN, f"工作日历中还没有 {today.year + 1} 年的法定节假日（已配置：{listed}）",
                     hint + "（通常在 11 月前后公布）", data)
    return Check(OK, f"{'、'.join(teams)} 按工作时间计时；已配置 {listed} 年的节假日", data=data)


def startup_calendar_check(cfg: Config, *, now: datetime) -> str | None:
    """For `serve` and `scheduler`: a broken calendar stops the start (ConfigError, before the database is
    touched: deadlines could not be computed); a missing year of holidays is a warning line to print."""
    check = check_calendar(cfg, now=now)
    if check.status == FAIL:
        raise ConfigError(f"{check.detail}；{check.hint}")
    return f"注意：{check.detail}。{check.hint}。" if check.status == WARN else None


def doctor_checks(runtime: Runtime) -> dict[str, Check]:
    checks = {"wechat_credentials": check_wechat_credentials(runtime.cfg),
              "database": check_database(runtime)}
    database_ok = checks["database"].status == OK
    checks["migrations"] = check_migrations(runtime) if database_ok else Check(
        SKIPPED, "数据库不可用，未检查", checks["database"].hint)
    checks["model"] = check_model_files(runtime)
    checks["calendar"] = check_calendar(runtime.cfg, now=runtime.clock.now())
    if checks["wechat_credentials"].status == OK:
        checks["wechat_api"] = check_wechat_api(runtime, database_ok=database_ok)
    else:
        checks["wechat_api"] = Check(SKIPPED, "缺少微信密钥，未检查", checks["wechat_credentials"].hint)
    return checks
