"""Configuration: config.yaml overridden by QIANJIA_* environment variables.

Precedence (highest first): environment (``QIANJIA_SECTION__KEY``; ``DATABASE_URL``),
the YAML file named by ``QIANJIA_CONFIG``, the repository's ``config.yaml``.
Secrets are read only from the environment; a secret written into a YAML file is
refused so that it never ends up in version control.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "QIANJIA_"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = ROOT / "config.yaml"

# Dotted keys that may only come from the environment.
SECRET_KEYS = (
    "wechat.token",
    "wechat.encoding_aes_key",
    "wechat.app_id",
    "wechat.app_secret",
    "console.secret_key",
    "notifications.smtp.password",
)

# Well-known, clearly fake credentials for `qianjia serve --demo` and the simulator.
# They only work against the fake WeChat API server on loopback.
DEMO_SECRETS = {
    "wechat.token": "qianjia-demo-token",
    "wechat.encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "wechat.app_id": "wxdemo0000qianjia",
    "wechat.app_secret": "demo-app-secret-not-for-production",
    "console.secret_key": "demo-console-secret-not-for-production",
}


class ConfigError(RuntimeError):
    """Raised for a missing or invalid configuration value; the message names the fix."""


def env_name(dotted: str) -> str:
    """Return the environment variable that overrides a dotted key."""
    return ENV_PREFIX + dotted.replace(".", "__").upper()


def _parse_scalar(raw: str) -> Any:
    # YAML scalar rules give "0" -> 0, "true" -> True, "[a, b]" -> list, and keep other text as text.
    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError):  # ValueError: a date-shaped value that is no date ("2026-13-01")
        return raw
    if value is None or isinstance(value, (dict,)):
        return raw
    return value


def _set_dotted(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _get_dotted(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


class Config:
    """Read-only view over the merged configuration tree."""

    def __init__(self, data: Mapping[str, Any], *, source: str = "") -> None:
        self._data = copy.deepcopy(dict(data))
        self.source = source

    def get(self, dotted: str, default: Any = None) -> Any:
        value = _get_dotted(self._data, dotted)
        return default if value is None else value

    def section(self, name: str) -> dict[str, Any]:
        value = _get_dotted(self._data, name)
        return copy.deepcopy(value) if isinstance(value, dict) else {}

    def require(self, dotted: str) -> Any:
        """Return a value that must be set, or fail naming the environment variable."""
        value = self.get(dotted)
        if value in (None, ""):
            raise ConfigError(f"缺少必需的配置：请设置环境变量 {env_name(dotted)}（{dotted}）")
        return value

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        """Return a copy with dotted keys replaced (tests, --demo)."""
        data = copy.deepcopy(self._data)
        for dotted, value in overrides.items():
            _set_dotted(data, dotted.split("."), value)
        return Config(data, source=self.source)

    def as_dict(self, *, mask_secrets: bool = True) -> dict[str, Any]:
        data = copy.deepcopy(self._data)
        if mask_secrets:
            for dotted in SECRET_KEYS:
                if _get_dotted(data, dotted):
                    _set_dotted(data, dotted.split("."), "***")
        return data

    @property
    def database_url(self) -> str:
        return str(self.require("database.url"))


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load config.yaml, then the file named by QIANJIA_CONFIG, then the environment."""
    env = os.environ if environ is None else environ
    with open(DEFAULT_CONFIG_PATH, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh) or {}
    source = str(DEFAULT_CONFIG_PATH)
    extra = path or env.get("QIANJIA_CONFIG")
    if extra:
        extra_path = Path(extra)
        if not extra_path.is_file():
            raise ConfigError(f"找不到配置文件：{extra_path}（QIANJIA_CONFIG）")
        with open(extra_path, encoding="utf-8") as fh:
            try:
                loaded = yaml.safe_load(fh) or {}
            except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date that is no date (2026-13-01)
                raise ConfigError(f"配置文件 {extra_path} 无法解析：{exc}（QIANJIA_CONFIG）") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"配置文件 {extra_path} 的顶层必须是映射（key: value）")
        _deep_merge(data, loaded)
        source = str(extra_path)
    for dotted in SECRET_KEYS:
        if _get_dotted(data, dotted) not in (None, ""):
            raise ConfigError(
                f"密钥 {dotted} 不能写在配置文件里，请改用环境变量 {env_name(dotted)}"
            )
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == "QIANJIA_CONFIG":
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        dotted = ".".join(parts)
        value: Any = raw if dotted in SECRET_KEYS else _parse_scalar(raw)
        _set_dotted(data, parts, value)
    if env.get("DATABASE_URL"):
        _set_dotted(data, ["database", "url"], env["DATABASE_URL"])
    cfg = Config(data, source=source)
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg


def demo_overrides(cfg: Config) -> dict[str, str]:
    """Demo credentials for the keys the environment left empty."""
    return {k: v for k, v in DEMO_SECRETS.items() if not cfg.get(k)}
