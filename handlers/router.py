"""Ordered handler groups with composable filters.

A handler is a filter plus a callback. `Router.dispatch` tries groups in order
(lower number first) and, inside a group, handlers in the order they were added;
the first handler whose filter matches answers. Filters compose with `&`, `|`, `~`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handlers.types import Inbound, NoReply, Reply

if TYPE_CHECKING:
    from handlers.context import HandlerContext


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
    def in_flow(*flows: str) -> Filter:
        wanted = frozenset(flows)
        return Filter(lambda i, c: c.flow in wanted, f"in_flow{sorted(wanted)}")


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
