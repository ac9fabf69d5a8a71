"""Our own message and reply types: wechatpy and Flask types stop at bot/."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.context import HandlerContext


@dataclass(frozen=True)
class Inbound:
    """One message or event from a customer, as parsed from WeChat's XML."""

    openid: str
    account: str  # ToUserName: the Official Account's original id
    msg_type: str  # text, image, voice, video, shortvideo, location, link, event, or what WeChat sent
    create_time: int
    received_at: datetime
    msg_id: str | None = None
    content: str | None = None  # text, or WeChat's speech recognition for voice
    event: str | None = None  # subscribe, unsubscribe, SCAN, CLICK, VIEW, LOCATION, ...
    event_key: str | None = None
    media_id: str | None = None
    pic_url: str | None = None
    location: tuple[float, float] | None = None
    label: str | None = None  # location label or link title
    raw: Mapping[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        """WeChat's own advice: MsgId for messages, FromUserName + CreateTime (+ event) for events.

        The openid is part of the message key too: MsgId collisions across users have been seen.
        The EventKey is part of the event key: two menu taps within one second are two events, while
        WeChat's retries repeat the same key.
        """
        if self.msg_type == "event" or not self.msg_id:
            key = f"evt:{self.openid}:{self.create_time}:{self.event or self.msg_type}"
            return f"{key}:{self.event_key}" if self.event_key else key
        return f"msg:{self.openid}:{self.msg_id}"

    @property
    def is_event(self) -> bool:
        return self.msg_type == "event"


@dataclass(frozen=True)
class TextReply:
    """A passive text reply; `ticket_id` links it to a ticket in the message log."""

    content: str
    ticket_id: int | None = None


@dataclass(frozen=True)
class NewsArticle:
    title: str
    description: str = ""
    url: str = ""
    image: str = ""


@dataclass(frozen=True)
class NewsReply:
    """A passive news (article card) reply."""

    articles: tuple[NewsArticle, ...]


@dataclass(frozen=True)
class NoReply:
    """Answer `success`: WeChat stops retrying and shows nothing."""


@dataclass(frozen=True)
class DeferredReply:
    """Answer `success` now and finish later (the slow path: e.g. the classifier is still loading).

    Whatever the handler stored so far is committed before WeChat is answered. `finish` then runs
    after the commit with a fresh context in its own transaction; the text it returns (if any) is sent
    through the customer-service API.
    """

    finish: Callable[[HandlerContext], str | None]
    ticket_id: int | None = None  # the ticket the follow-up message is about (for the message log)


Reply = TextReply | NewsReply | NoReply | DeferredReply
