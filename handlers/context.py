"""What a handler gets besides the message: the open transaction and the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from models import Customer, Message

if TYPE_CHECKING:
    from services.runtime import Runtime


@dataclass
class HandlerContext:
    session: Session  # the transaction that also holds the dedup record
    runtime: Runtime
    now: datetime
    customer: Customer
    message: Message | None = None  # the logged inbound message (handlers link it to a ticket)
    flow: str | None = None  # the conversation flow the customer is in, if any

    def text(self, key: str, **values: object) -> str:
        return self.runtime.texts.render(key, **values)
