"""Routing of inbound messages and events to conversation steps.

Each module in HANDLER_MODULES has a `register(router)` function; adding a flow
means adding one module here. Groups order the modules' handlers (lower first).
"""

from __future__ import annotations

import importlib

from handlers.router import Router

HANDLER_MODULES = (
    "handlers.improvements",
    "handlers.feedback",
    "handlers.fallback",
)


def build_router() -> Router:
    router = Router()
    for name in HANDLER_MODULES:
        importlib.import_module(name).register(router)
    return router
