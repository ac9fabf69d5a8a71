"""What a handler gets besides the message: the open transaction, the runtime and the conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from models import Customer, Message
from services.conversations import Conversation

if TYPE_CHECKING:
    from services.runtime import Runtime


@dataclass
class HandlerContext:
    session: Session  # the transaction that also holds the dedup record
    runtime: Runtime
    now: datetime
    customer: Customer
    message: Message | None = None  # the logged inbound message (handlers link it to a ticket)
    # The customer's conversation state; the pipeline saves what handlers change, in the same transaction.
    conversation: Conversation = field(default_factory=Conversation)
    # False while the classifier is still loading: handlers that need it store first and answer later
    # (handlers.types.DeferredReply).
    analyzer_ready: bool = True

    @property
    def flow(self) -> str | None:
        """The conversation flow the customer is in, if any."""
        return self.conversation.flow

    def text(self, key: str, **values: object) -> str:
        return self.runtime.texts.render(key, **values)
