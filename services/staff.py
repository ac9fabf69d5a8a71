"""Staff accounts: create, list, change password, deactivate. Admin-only except from the CLI."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Branch, Role, Staff
from services import audit, auth
from services.access import InputError, require_admin

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


def _check_password(cfg: Any, password: str) -> None:
    minimum = int(cfg.get("console.min_password_length", 10))
    if len(password or "") < minimum:
        raise InputError(f"密码至少需要 {minimum} 个字符")
    if len(password) > 256:
        raise InputError("密码不能超过 256 个字符")


def _branches(session: Session, codes: Sequence[str]) -> list[Branch]:
    wanted = [c.strip().upper() for c in codes if c and c.strip()]
    found = session.scalars(select(Branch).where(Branch.code.in_(wanted))).all() if wanted else []
    missing = sorted(set(wanted) - {b.code for b in found})
    if missing:
        raise InputError(f"没有这些网点代码：{', '.join(missing)}")
    return list(found)


def _check_role_fields(cfg: Any, role: Role, team: str | None, branches: Sequence[Branch]) -> None:
    teams = cfg.section("teams")
    if role is Role.AGENT:
        if not team:
            raise InputError("坐席必须指定所属小组（--team）")
        if team not in teams:
            raise InputError(f"没有小组 {team}；可选：{', '.join(sorted(teams))}")
    elif team and team not in teams:
        raise InputError(f"没有小组 {team}；可选：{', '.join(sorted(teams))}")
    if role is Role.MANAGER and not branches:
        raise InputError("网点负责人必须至少指定一个网点（--branch）")


def create_staff(session: Session, *, cfg: Any, username: str, password: str, role: str, now: datetime,
                 actor: str, team: str | None = None, branch_codes: Sequence[str] = (),
                 display_name: str = "") -> Staff:
    """Create an account; `actor` is who did it (a staff username or "cli:<user>")."""
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise InputError("用户名须以小写字母开头，由 2–64 个小写字母、数字、点、下划线或连字符组成")
    try:
        role_value = Role(role)
    except ValueError:
        raise InputError("角色只能是 agent（坐席）、manager（网点负责人）或 admin（管理员）") from None
    team = (team or "").strip() or None
    branches = _branches(session, branch_codes)
    _check_role_fields(cfg, role_value, team, branches)
    _check_password(cfg, password)
    if session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise InputError(f"用户名 {username} 已存在")
    staff = Staff(username=username, display_name=(display_name or "").strip()[:64], role=role_value.value,
                  team=team, active=True, created_at=now, password_hash=auth.hash_password(cfg, password))
    staff.branches = branches
    session.add(staff)
    session.flush()
    audit.record(session, actor=actor, action="staff.create", now=now, target_type="staff", target_id=staff.id,
                 data={"username": username, "role": role_value.value, "team": team,
                       "branches": [b.code for b in branches]})
    return staff


def admin_create_staff(session: Session, *, cfg: Any, admin: Staff, now: datetime, **fields: Any) -> Staff:
    """The console's "add staff" form: admins only."""
    require_admin(admin)
    return create_staff(session, cfg=cfg, now=now, actor=admin.username, **fields)


def get_staff(session: Session, *, username: str) -> Staff:
    staff = session.scalars(select(Staff).where(Staff.username == (username or "").strip().lower())).one_or_none()
    if staff is None:
        raise InputError(f"没有员工 {username}")
    return staff


def list_staff(session: Session, *, admin: Staff | None = None) -> list[Staff]:
    """Every account; from the console only an admin may ask (`admin`), the CLI passes None."""
    if admin is not None:
        require_admin(admin)
    return list(session.scalars(select(Staff).order_by(Staff.role, Staff.username)))


def set_password(session: Session, *, cfg: Any, staff: Staff, password: str, now: datetime, actor: str) -> None:
    """New password; every open session of the account ends."""
    _check_password(cfg, password)
    staff.password_hash = auth.hash_password(cfg, password)
    auth.end_sessions(session, staff=staff)
    audit.record(session, actor=actor, action="staff.set_password", now=now, target_type="staff",
                 target_id=staff.id)


def set_active(session: Session, *, staff: Staff, active: bool, now: datetime, actor: str,
               admin: Staff | None = None) -> None:
    """Deactivate (signing out everywhere) or reactivate an account."""
    if admin is not None:
        require_admin(admin)
        if admin.id == staff.id and not active:
            raise InputError("不能停用自己的账号")
    staff.active = active
    if not active:
        auth.end_sessions(session, staff=staff)
    audit.record(session, actor=actor, action="staff.activate" if active else "staff.deactivate", now=now,
                 target_type="staff", target_id=staff.id)
