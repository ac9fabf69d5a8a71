"""Routing of inbound messages and events to conversation steps.

Each module in HANDLER_MODULES has a `register(router)` function; adding a flow
means adding one module here. Groups order the modules' handlers (lower first);
the GROUP_* constants in handlers/router.py say what each group is for.
"""

from __future__ import annotations

import importlib

from handlers.router import Router

HANDLER_MODULES = (
    "handlers.commands",
    "handlers.subscription",
    "handlers.improvements",
    "handlers.my_feedback",
    "handlers.branches",
    "handlers.survey",
    "handlers.resolution",
    "handlers.feedback",
    "handlers.fallback",
)


def build_router() -> Router:
    router = Router()
    for name in HANDLER_MODULES:
        importlib.import_module(name).register(router)
    return router
