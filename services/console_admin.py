"""Admin-only console use cases: branches, the configuration view, the audit log."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditLog, Branch, BranchKind, Staff
from services import audit
from services.access import InputError, require_admin
from services.branches import upsert_branches

BRANCH_CODE = re.compile(r"^[A-Z0-9]{2,32}$")


def list_branches(session: Session) -> list[Branch]:
    return list(session.scalars(select(Branch).order_by(Branch.code)))


def save_branch(session: Session, *, admin: Staff, code: str, name: str, kind: str, aliases: str,
                address: str, active: bool, now: datetime) -> Branch:
    """Add a branch or update one by its code."""
    require_admin(admin)
    code = (code or "").strip().upper()
    if not BRANCH_CODE.match(code):
        raise InputError("网点代码须为 2–32 位大写字母或数字")
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InputError("请填写网点名称（不超过 128 个字）")
    try:
        kind_value = BranchKind(kind)
    except ValueError:
        raise InputError("网点类型无效") from None
    alias_list = [a.strip() for a in re.split(r"[,，、\s]+", aliases or "") if a.strip()]
    created = upsert_branches(session, now=now, rows=[{
        "code": code, "name": name, "kind": kind_value.value, "aliases": alias_list,
        "address": (address or "").strip() or None, "active": active}])
    audit.record(session, actor=admin.username, action="branch.create" if created else "branch.update", now=now,
                 target_type="branch", target_id=code, data={"name": name, "active": active})
    return session.scalars(select(Branch).where(Branch.code == code)).one()


def config_view(*, admin: Staff, cfg: Any) -> dict[str, Any]:
    """The running configuration with every secret masked."""
    require_admin(admin)
    return dict(cfg.as_dict(mask_secrets=True))


def audit_entries(session: Session, *, admin: Staff, before_id: int | None = None, limit: int = 50,
                  actor: str | None = None) -> list[AuditLog]:
    """The newest audit rows first, paged by id."""
    require_admin(admin)
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditLog.id < before_id)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor.strip().lower())
    return list(session.scalars(stmt))
