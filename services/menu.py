"""The custom menu from config.yaml: WeChat's menu JSON and the words that trigger each action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# CLICK keys other modules rely on (issue 4); `qianjia wechat menu push` refuses a menu without them.
MENU_COMPLAINT = "MENU_COMPLAINT"
MENU_SUGGESTION = "MENU_SUGGESTION"
MENU_SURVEY = "MENU_SURVEY"
MENU_MY_FEEDBACK = "MENU_MY_FEEDBACK"
MENU_IMPROVEMENTS = "MENU_IMPROVEMENTS"
MENU_BRANCHES = "MENU_BRANCHES"
REQUIRED_KEYS = (MENU_COMPLAINT, MENU_SUGGESTION, MENU_SURVEY, MENU_MY_FEEDBACK, MENU_IMPROVEMENTS, MENU_BRANCHES)

# WeChat's limits (bytes of UTF-8): 3 top-level buttons of 16 bytes, 5 sub-buttons of 60 bytes.
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_TOP_NAME_BYTES, MAX_SUB_NAME_BYTES, MAX_KEY_BYTES = 16, 60, 128


class MenuError(ValueError):
    """The menu in config.yaml breaks one of WeChat's rules; the message says which (Chinese)."""


@dataclass(frozen=True)
class MenuAction:
    key: str
    name: str
    keywords: tuple[str, ...]


def _buttons(cfg: Any) -> list[dict[str, Any]]:
    buttons = cfg.section("menu").get("buttons") or []
    return [b for b in buttons if isinstance(b, dict)]


def menu_actions(cfg: Any) -> list[MenuAction]:
    """Every clickable item, top-level or nested, in menu order."""
    actions: list[MenuAction] = []
    for button in _buttons(cfg):
        for item in button.get("sub_buttons") or [button]:
            if isinstance(item, dict) and item.get("key"):
                words = tuple(str(w).strip() for w in item.get("keywords") or () if str(w).strip())
                actions.append(MenuAction(key=str(item["key"]), name=str(item.get("name", "")), keywords=words))
    return actions


def action_for_text(cfg: Any, text: str | None) -> str | None:
    """The menu key a typed message stands for (the whole message is one of its keywords)."""
    # Voice transcriptions end with a full stop: "我的反馈。"
    typed = (text or "").strip().rstrip("。.!！?？ ")
    if not typed:
        return None
    for action in menu_actions(cfg):
        if typed in action.keywords or typed == action.name:
            return action.key
    return None


def _check_name(name: str, limit: int, where: str) -> None:
    if not name:
        raise MenuError(f"{where}缺少名称（name）")
    if len(name.encode("utf-8")) > limit:
        raise MenuError(f"{where}“{name}”太长：微信限制为 {limit} 字节（约 {limit // 3} 个汉字）")


def _click(item: dict[str, Any], where: str) -> dict[str, Any]:
    name, key = str(item.get("name", "")), str(item.get("key", ""))
    _check_name(name, MAX_SUB_NAME_BYTES, where)
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise MenuError(f"{where}“{name}”缺少 key 或 key 超过 {MAX_KEY_BYTES} 字节")
    return {"type": "click", "name": name, "key": key}


def wechat_menu(cfg: Any) -> dict[str, Any]:
    """The menu as WeChat's menu/create expects it; raises MenuError for a menu WeChat would refuse."""
    buttons = _buttons(cfg)
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise MenuError(f"菜单需要 1 到 {MAX_BUTTONS} 个一级按钮，现在有 {len(buttons)} 个")
    out: list[dict[str, Any]] = []
    for index, button in enumerate(buttons, 1):
        where = f"第 {index} 个一级按钮"
        subs = button.get("sub_buttons")
        if subs:
            _check_name(str(button.get("name", "")), MAX_TOP_NAME_BYTES, where)
            if len(subs) > MAX_SUB_BUTTONS:
                raise MenuError(f"{where}最多 {MAX_SUB_BUTTONS} 个子按钮，现在有 {len(subs)} 个")
            out.append({"name": str(button["name"]),
                        "sub_button": [_click(s, f"{where}的第 {i} 个子按钮") for i, s in enumerate(subs, 1)]})
        else:
            click = _click(button, where)
            _check_name(click["name"], MAX_TOP_NAME_BYTES, where)
            out.append(click)
    keys = [a.key for a in menu_actions(cfg)]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise MenuError(f"菜单 key 重复：{', '.join(duplicated)}")
    missing = [k for k in REQUIRED_KEYS if k not in keys]
    if missing:
        raise MenuError(f"菜单缺少必需的按钮：{', '.join(missing)}")
    return {"button": out}
