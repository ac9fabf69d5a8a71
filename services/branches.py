"""Branches: seed, list, look up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import ROOT
from models import Branch, BranchKind

DEMO_BRANCHES = ROOT / "data" / "demo" / "branches.yaml"


def load_branch_file(path: Path = DEMO_BRANCHES) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        rows = yaml.safe_load(fh) or []
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a list of branches")
    return rows


def upsert_branches(session: Session, *, rows: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Insert or update branches by code; returns how many were new."""
    created = 0
    for row in rows:
        code = str(row["code"]).strip()
        kind = BranchKind(str(row.get("kind", BranchKind.BUSINESS_HALL.value)))
        branch = session.scalars(select(Branch).where(Branch.code == code)).one_or_none()
        if branch is None:
            branch = Branch(code=code, created_at=now)
            session.add(branch)
            created += 1
        branch.name = str(row["name"])
        branch.kind = kind.value
        branch.aliases = [str(a) for a in row.get("aliases", [])]
        branch.address = row.get("address")
        branch.active = bool(row.get("active", True))
    session.flush()
    return created


def get_by_code(session: Session, code: str) -> Branch | None:
    return session.scalars(select(Branch).where(Branch.code == code)).one_or_none()
