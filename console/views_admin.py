"""Admin pages: staff accounts, branches, the configuration (secrets masked), the audit log."""

from __future__ import annotations

from typing import Any

import yaml
from flask import render_template, request, url_for
from werkzeug.wrappers import Response

from console.web import bp, cfg, db, now, run_action, staff
from models import BRANCH_KIND_NAMES, Role
from models.staff import ROLE_NAMES
from services import console_admin
from services import staff as staff_service
from services.access import require_admin


@bp.get("/admin/staff")
def admin_staff() -> Any:
    people = staff_service.list_staff(db(), admin=staff())
    branches = console_admin.list_branches(db())
    return render_template("console/admin_staff.html", people=people, branches=branches,
                           roles=ROLE_NAMES, Role=Role)


@bp.post("/admin/staff")
def admin_staff_add() -> Response:
    form = request.form
    return run_action(lambda: staff_service.admin_create_staff(
        db(), cfg=cfg(), admin=staff(), now=now(), username=form.get("username", ""),
        password=form.get("password", ""), role=form.get("role", ""), team=form.get("team") or None,
        branch_codes=form.getlist("branch"), display_name=form.get("display_name", "")),
        success=lambda s: f"已添加员工 {s.username}", back=url_for("console.admin_staff"))


@bp.post("/admin/staff/<username>/active")
def admin_staff_active(username: str) -> Response:
    active = request.form.get("active") == "1"

    def act() -> None:
        require_admin(staff())
        target = staff_service.get_staff(db(), username=username)
        staff_service.set_active(db(), staff=target, active=active, now=now(), actor=staff().username, admin=staff())

    return run_action(act, success=f"已{'启用' if active else '停用'} {username}", back=url_for("console.admin_staff"))


@bp.get("/admin/branches")
def admin_branches() -> Any:
    require_admin(staff())
    return render_template("console/admin_branches.html", branches=console_admin.list_branches(db()),
                           kinds=BRANCH_KIND_NAMES)


@bp.post("/admin/branches")
def admin_branch_save() -> Response:
    form = request.form
    return run_action(lambda: console_admin.save_branch(
        db(), admin=staff(), code=form.get("code", ""), name=form.get("name", ""), kind=form.get("kind", ""),
        aliases=form.get("aliases", ""), address=form.get("address", ""), active=form.get("active") == "1",
        now=now()), success=lambda b: f"已保存网点 {b.code}", back=url_for("console.admin_branches"))


@bp.get("/admin/config")
def admin_config() -> Any:
    view = console_admin.config_view(admin=staff(), cfg=cfg())
    text = yaml.safe_dump(view, allow_unicode=True, sort_keys=False, default_flow_style=False)
    return render_template("console/admin_config.html", text=text, source=cfg().source)


@bp.get("/admin/audit")
def admin_audit() -> Any:
    before = request.args.get("before", type=int)
    actor = request.args.get("actor") or None
    rows = console_admin.audit_entries(db(), admin=staff(), before_id=before, actor=actor)
    return render_template("console/admin_audit.html", rows=rows, actor=actor or "",
                           older=url_for("console.admin_audit", before=rows[-1].id, actor=actor)
                           if len(rows) == 50 else None)
