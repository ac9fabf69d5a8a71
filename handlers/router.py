"""Ordered handler groups with composable filters.

A handler is a filter plus a callback. `Router.dispatch` tries groups in order
(lower number first) and, inside a group, handlers in the order they were added;
the first handler whose filter matches answers. Filters compose with `&`, `|`, `~`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handlers.types import Inbound, NoReply, Reply

if TYPE_CHECKING:
    from handlers.context import HandlerContext


# Handler groups, in the order they are tried (handlers/__init__.py lists who registers where).
GROUP_COMMANDS = 0  # 取消/退出, help; follow, unfollow and QR check-in events
GROUP_MENU = 10  # menu actions: a CLICK or the action's words typed (services/menu)
GROUP_FLOW = 20  # the next step of the conversation the customer is in
GROUP_ANSWERS = 30  # answers outside a flow: a resolution-check score, an answer that came too late
GROUP_MEDIA = 50  # pictures, voice without text, video, location, links
GROUP_MENU_FALLBACK = 85  # a menu action nobody handles (yet)
GROUP_FREE_TEXT = 90  # anything else written: a follow-up or a new ticket
GROUP_FALLBACK = 100

MEDIA_TYPES = frozenset({"image", "voice", "video", "shortvideo", "location", "link", "file"})


class Filter:
    """A predicate over (inbound, context) that composes with &, | and ~."""

    def __init__(self, check: Callable[[Inbound, HandlerContext], bool], name: str = "filter") -> None:
        self._check = check
        self.name = name

    def __call__(self, inbound: Inbound, ctx: HandlerContext) -> bool:
        return self._check(inbound, ctx)

    def __and__(self, other: Filter) -> Filter:
        return Filter(lambda i, c: self(i, c) and other(i, c), f"({self.name} & {other.name})")

    def __or__(self, other: Filter) -> Filter:
        return Filter(lambda i, c: self(i, c) or other(i, c), f"({self.name} | {other.name})")

    def __invert__(self) -> Filter:
        return Filter(lambda i, c: not self(i, c), f"~{self.name}")

    def __repr__(self) -> str:
        return f"<Filter {self.name}>"


class filters:  # noqa: N801  (a namespace, read like `filters.text`)
    """Ready-made filters."""

    any = Filter(lambda i, c: True, "any")
    text = Filter(lambda i, c: i.msg_type == "text", "text")
    event = Filter(lambda i, c: i.msg_type == "event", "event")
    # Written words: a text, or a voice message WeChat transcribed (its Recognition).
    has_text = Filter(lambda i, c: i.msg_type in ("text", "voice") and bool((i.content or "").strip()), "has_text")
    # Something to attach to a ticket that has no words of its own.
    media = Filter(lambda i, c: i.msg_type in MEDIA_TYPES and not (i.msg_type == "voice" and i.content),
                   "media")
    # The customer's conversation timed out just before this message.
    flow_expired = Filter(lambda i, c: c.conversation.expired_flow is not None, "flow_expired")

    @staticmethod
    def msg_type(*types: str) -> Filter:
        wanted = frozenset(types)
        return Filter(lambda i, c: i.msg_type in wanted, f"msg_type{sorted(wanted)}")

    @staticmethod
    def event_type(*events: str) -> Filter:
        wanted = frozenset(e.lower() for e in events)
        return Filter(lambda i, c: i.is_event and (i.event or "").lower() in wanted, f"event{sorted(wanted)}")

    @staticmethod
    def menu_key(*keys: str) -> Filter:
        wanted = frozenset(keys)
        return Filter(
            lambda i, c: i.is_event and (i.event or "").lower() == "click" and (i.event_key or "") in wanted,
            f"menu{sorted(wanted)}",
        )

    @staticmethod
    def keyword(*words: str, exact: bool = True) -> Filter:
        wanted = tuple(w.strip() for w in words)

        def check(i: Inbound, c: HandlerContext) -> bool:
            if i.msg_type != "text" or not i.content:
                return False
            text = i.content.strip()
            return text in wanted if exact else any(w in text for w in wanted)

        return Filter(check, f"keyword{list(wanted)}")

    @staticmethod
    def regex(pattern: str) -> Filter:
        """Written words (text or transcribed voice) that match `pattern` as a whole."""
        compiled = re.compile(pattern)
        return Filter(lambda i, c: filters.has_text(i, c) and compiled.fullmatch((i.content or "").strip())
                      is not None, f"regex[{pattern}]")

    @staticmethod
    def menu_action(*keys: str) -> Filter:
        """A menu CLICK with one of `keys`, or one of those actions' words typed (config.yaml menu:).

        Without keys: any action of the configured menu.
        """
        from services.menu import action_for_text

        wanted = frozenset(keys)

        def check(i: Inbound, c: HandlerContext) -> bool:
            if i.is_event:
                if (i.event or "").lower() != "click":
                    return False
                key = i.event_key or ""
                return key in wanted if wanted else _is_menu_key(c, key)
            if not filters.has_text(i, c):
                return False
            key = action_for_text(c.runtime.cfg, i.content) or ""
            return key in wanted if wanted else bool(key)

        return Filter(check, f"menu_action{sorted(wanted) or ['*']}")

    @staticmethod
    def in_flow(*flows: str) -> Filter:
        wanted = frozenset(flows)
        return Filter(lambda i, c: c.flow in wanted, f"in_flow{sorted(wanted)}")

    @staticmethod
    def in_step(flow: str, *steps: str) -> Filter:
        wanted = frozenset(steps)
        return Filter(lambda i, c: c.flow == flow and c.conversation.step in wanted, f"in_step[{flow}]{sorted(wanted)}")


def _is_menu_key(ctx: HandlerContext, key: str) -> bool:
    from services.menu import menu_actions

    return any(a.key == key for a in menu_actions(ctx.runtime.cfg))


HandlerCallback = Callable[[Inbound, "HandlerContext"], Reply]


@dataclass
class Handler:
    filter: Filter
    callback: HandlerCallback
    name: str = ""


@dataclass
class Router:
    """Dispatches an inbound message to the first matching handler."""

    groups: dict[int, list[Handler]] = field(default_factory=dict)

    def add(self, flt: Filter, callback: HandlerCallback, *, group: int = 0, name: str = "") -> None:
        self.groups.setdefault(group, []).append(Handler(flt, callback, name or callback.__name__))

    def on(self, flt: Filter, *, group: int = 0) -> Callable[[HandlerCallback], HandlerCallback]:
        """Decorator form of `add`."""

        def register(callback: HandlerCallback) -> HandlerCallback:
            self.add(flt, callback, group=group)
            return callback

        return register

    def include(self, other: Router) -> None:
        for group, handlers in other.groups.items():
            self.groups.setdefault(group, []).extend(handlers)

    def dispatch(self, inbound: Inbound, ctx: HandlerContext) -> Reply:
        for group in sorted(self.groups):
            for handler in self.groups[group]:
                if handler.filter(inbound, ctx):
                    return handler.callback(inbound, ctx)
        return NoReply()

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"group": g, "name": h.name, "filter": h.filter.name}
            for g in sorted(self.groups)
            for h in self.groups[g]
        ]
