"""网点查询: the bank's branches and their addresses; "网点查询 人民路" searches."""

from __future__ import annotations

import re

from sqlalchemy import select

from handlers.context import HandlerContext
from handlers.router import GROUP_MENU, Router, filters
from handlers.types import Inbound, Reply, TextReply
from models import BRANCH_KIND_NAMES, Branch, BranchKind
from services import intake
from services.menu import MENU_BRANCHES

SEARCH = re.compile(r"(?:网点查询|查询网点|查网点|网点)\s*[:：]?\s+(?P<query>.+)")


def _listing(ctx: HandlerContext, branches: list[Branch], header: str) -> Reply:
    lines = []
    for index, branch in enumerate(branches, 1):
        kind = BRANCH_KIND_NAMES.get(BranchKind(branch.kind), "") if branch.kind in set(BranchKind) else ""
        lines.append(ctx.text("branch_list_item", index=index, name=branch.name, kind=kind,
                              address=branch.address or ctx.text("branch_no_address")))
    return TextReply(header + "\n" + "\n".join(lines) + "\n" + ctx.text("branch_list_footer"))


def on_list(inbound: Inbound, ctx: HandlerContext) -> Reply:
    limit = int(ctx.runtime.cfg.get("conversations.branch_list_limit", 10))
    branches = list(ctx.session.scalars(select(Branch).where(Branch.active.is_(True)).order_by(Branch.id)
                                        .limit(limit)))
    if not branches:
        return TextReply(ctx.text("branch_list_empty"))
    return _listing(ctx, branches, ctx.text("branch_list_header"))


def on_search(inbound: Inbound, ctx: HandlerContext) -> Reply:
    match = SEARCH.fullmatch((inbound.content or "").strip())
    query = match.group("query").strip() if match else ""
    limit = int(ctx.runtime.cfg.get("conversations.branch_suggestions", 3))
    found = intake.suggest(ctx.session, text=query, limit=limit)
    if not found:
        return TextReply(ctx.text("branch_search_none", query=query))
    return _listing(ctx, found, ctx.text("branch_search_header", query=query))


def register(router: Router) -> None:
    router.add(filters.menu_action(MENU_BRANCHES), on_list, group=GROUP_MENU)
    router.add(filters.regex(SEARCH.pattern), on_search, group=GROUP_MENU)
