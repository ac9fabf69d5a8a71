"""KPI inputs from files and the console: visit counts, branch inspections, training assessments.

Every import checks the whole file first and writes nothing when any line is wrong; a line that
repeats an existing key (branch + day, branch + month, branch + session) replaces the stored row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Branch
from models.kpi import BranchInspection, TrainingAssessment, VisitCount
from services import audit
from services.kpi import inspection_items


class KpiImportError(ValueError):
    """The file cannot be imported; `problems` lists every bad line in Chinese."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("；".join(problems[:5]) + (f"（共 {len(problems)} 处错误）" if len(problems) > 5 else ""))
        self.problems = list(problems)


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    replaced: int


# Accepted headings: the English code, or the Chinese heading staff get from Excel.
VISIT_COLUMNS = {"branch": ("branch", "网点代码"), "day": ("day", "日期"), "count": ("count", "到访人数")}
TRAINING_COLUMNS = {
    "branch": ("branch", "网点代码"),
    "session": ("session", "场次编号"),
    "title": ("title", "培训名称"),
    "held_on": ("held_on", "日期"),
    "participants": ("participants", "参考人数"),
    "passed": ("passed", "通过人数"),
}


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; UTF-8 (with or without BOM) or GB18030 (Excel on Chinese Windows)."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise KpiImportError([f"{path.name}：无法识别文件编码，请另存为 UTF-8 的 CSV"])
    reader = csv.DictReader(io.StringIO(text))
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def _columns(rows: list[dict[str, str]], spec: Mapping[str, tuple[str, ...]], optional: Iterable[str] = ()) -> dict[str, str]:
    """Map each field to the heading the file uses; fail naming the missing ones."""
    headings = set(rows[0]) if rows else set()
    found, missing = {}, []
    for name, aliases in spec.items():
        heading = next((a for a in aliases if a in headings), None)
        if heading is None:
            if name not in optional:
                missing.append("/".join(aliases))
            continue
        found[name] = heading
    if missing:
        raise KpiImportError([f"缺少列：{', '.join(missing)}"])
    return found


def _parse_day(text: str) -> date:
    return date.fromisoformat(text.replace("/", "-").strip())


def _parse_month(text: str) -> date:
    parts = text.replace("/", "-").strip().split("-")
    if len(parts) < 2:
        raise ValueError(text)
    return date(int(parts[0]), int(parts[1]), 1)


def _branch_ids(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Branch.code, Branch.id)).all())


def _upsert(session: Session, model: Any, values: list[dict[str, Any]], keys: Sequence[str],
            update: Sequence[str]) -> tuple[int, int]:
    """INSERT … ON CONFLICT (keys) DO UPDATE on SQLite and PostgreSQL; returns (inserted, replaced)."""
    if not values:
        return 0, 0
    cols = [getattr(model, k) for k in keys]
    wanted = {tuple(v[k] for k in keys) for v in values}
    existing = {tuple(r) for r in session.execute(select(*cols).where(tuple_(*cols).in_(list(wanted)))).all()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(values)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    session.execute(stmt)
    replaced = len(wanted & existing)
    return len(wanted) - replaced, replaced


def _duplicates(keys: list[tuple[Any, ...]], lines: list[int]) -> list[str]:
    seen: dict[tuple[Any, ...], int] = {}
    problems = []
    for key, line in zip(keys, lines, strict=True):
        if key in seen:
            problems.append(f"第{line}行与第{seen[key]}行重复（{' / '.join(str(k) for k in key)}）")
        else:
            seen[key] = line
    return problems


class _BadLine(ValueError):
    """One line of a file is wrong (the message, in Chinese, says how)."""


def _import(session: Session, *, path: Path, now: datetime, actor: str, action: str, model: Any,
            columns: Mapping[str, tuple[str, ...]], optional: Iterable[str], keys: Sequence[str],
            update: Sequence[str], parse: Callable[[Mapping[str, str]], dict[str, Any]]) -> ImportResult:
    """Read a CSV, check every line (branch code first, then `parse`), then upsert all rows or none."""
    rows = read_csv(path)
    if not rows:
        raise KpiImportError([f"{path.name} 没有数据行"])
    col = _columns(rows, columns, optional)
    branches = _branch_ids(session)
    values, problems, lines = [], [], []
    for line, raw in enumerate(rows, start=2):
        row = {name: raw.get(heading, "") for name, heading in col.items()}
        code = row["branch"]
        try:
            if code not in branches:
                raise _BadLine(f"未知的网点代码“{code}”")
            value = parse(row)
        except _BadLine as exc:
            problems.append(f"第{line}行：{exc}")
            continue
        values.append({"branch_id": branches[code], **value})
        lines.append(line)
    problems += _duplicates([tuple(v[k] for k in keys) for v in values], lines)
    if problems:
        raise KpiImportError(problems)
    inserted, replaced = _upsert(session, model, values, keys, update)
    audit.record(session, actor=actor, action=action, now=now, target_type="file", target_id=path.name,
                 data={"rows": len(values), "inserted": inserted, "replaced": replaced})
    return ImportResult(len(values), inserted, replaced)


def _day(text: str) -> date:
    try:
        return _parse_day(text)
    except ValueError:
        raise _BadLine(f"日期“{text}”应为 2026-07-01 这样的格式") from None


def import_visit_counts(session: Session, *, path: Path, now: datetime, actor: str) -> ImportResult:
    """Daily visit counts per branch (columns branch, day, count); a day imported again is replaced."""

    def parse(row: Mapping[str, str]) -> dict[str, Any]:
        day = _day(row["day"])
        try:
            count = int(row["count"])
        except ValueError:
            count = -1
        if count < 0:
            raise _BadLine(f"到访人数“{row['count']}”应为不小于0的整数")
        return {"day": day, "count": count, "source": path.name[:255], "imported_at": now}

    return _import(session, path=path, now=now, actor=actor, action="kpi.visits_import", model=VisitCount,
                   columns=VISIT_COLUMNS, optional=(), keys=("branch_id", "day"),
                   update=("count", "source", "imported_at"), parse=parse)


def inspection_score(cfg: Any, item_scores: Mapping[str, float]) -> float:
    """Points given over points possible, × 100 (config kpi.inspection.items); checks every item."""
    items = inspection_items(cfg)
    if not items:
        raise KpiImportError(["config.yaml 的 kpi.inspection.items 未配置检查项目"])
    problems, given, possible = [], 0.0, 0.0
    for item in items:
        code, top = str(item["code"]), float(item.get("max_points", 0))
        if code not in item_scores:
            problems.append(f"缺少检查项目“{item.get('name', code)}”（{code}）的得分")
            continue
        points = float(item_scores[code])
        if not 0 <= points <= top:
            problems.append(f"检查项目“{item.get('name', code)}”的得分 {points:g} 超出 0–{top:g} 分")
        given += points
        possible += top
    unknown = sorted(set(item_scores) - {str(i["code"]) for i in items})
    if unknown:
        problems.append(f"未知的检查项目：{', '.join(unknown)}")
    if problems:
        raise KpiImportError(problems)
    return round(100.0 * given / possible, 2) if possible else 0.0


def record_inspection(session: Session, *, cfg: Any, branch_id: int, month: date, item_scores: Mapping[str, float],
                      now: datetime, actor: str, inspector: str | None = None, note: str | None = None,
                      source: str = "console") -> BranchInspection:
    """Enter (or correct) a branch's inspection for a month; the console's form calls this."""
    month = month.replace(day=1)
    scores = {k: float(v) for k, v in item_scores.items()}
    score = inspection_score(cfg, scores)
    row = session.scalars(select(BranchInspection).where(
        BranchInspection.branch_id == branch_id, BranchInspection.month == month)).one_or_none()
    if row is None:
        row = BranchInspection(branch_id=branch_id, month=month, created_at=now)
        session.add(row)
    row.score, row.item_scores, row.inspector, row.note = score, scores, inspector, note
    row.source, row.updated_at = source, now
    session.flush()
    audit.record(session, actor=actor, action="kpi.inspection", now=now, target_type="branch",
                 target_id=branch_id, data={"month": month.isoformat(), "score": score})
    return row


def import_inspections(session: Session, *, cfg: Any, path: Path, now: datetime, actor: str) -> ImportResult:
    """Monthly inspections (columns branch, month, inspector, one column per checklist item code, note)."""
    items = [str(i["code"]) for i in inspection_items(cfg)]
    columns = {"branch": ("branch", "网点代码"), "month": ("month", "月份"), "inspector": ("inspector", "检查人"),
               "note": ("note", "备注"), **{c: (c,) for c in items}}

    def parse(row: Mapping[str, str]) -> dict[str, Any]:
        try:
            month = _parse_month(row["month"])
        except ValueError:
            raise _BadLine(f"月份“{row['month']}”应为 2026-07 这样的格式") from None
        try:
            scores = {c: float(row[c]) for c in items}
        except ValueError:
            raise _BadLine("得分应为数字") from None
        try:
            score = inspection_score(cfg, scores)
        except KpiImportError as exc:
            raise _BadLine(str(exc)) from None
        return {"month": month, "score": score, "item_scores": scores, "inspector": row.get("inspector") or None,
                "note": row.get("note") or None, "source": "import", "created_at": now, "updated_at": now}

    return _import(session, path=path, now=now, actor=actor, action="kpi.inspections_import", model=BranchInspection,
                   columns=columns, optional=("inspector", "note"), keys=("branch_id", "month"),
                   update=("score", "item_scores", "inspector", "note", "source", "updated_at"), parse=parse)


def import_training(session: Session, *, path: Path, now: datetime, actor: str) -> ImportResult:
    """Training assessments per branch and session (branch, session, title, held_on, participants, passed)."""

    def parse(row: Mapping[str, str]) -> dict[str, Any]:
        session_code = row["session"]
        if not session_code:
            raise _BadLine("缺少场次编号")
        held_on = _day(row["held_on"])
        try:
            participants, passed = int(row["participants"]), int(row["passed"])
        except ValueError:
            raise _BadLine("参考人数和通过人数应为整数") from None
        if not 0 <= passed <= participants:
            raise _BadLine(f"通过人数 {passed} 应在 0 到参考人数 {participants} 之间")
        return {"session_code": session_code[:64], "title": (row.get("title") or session_code)[:128],
                "held_on": held_on, "participants": participants, "passed": passed, "source": "import",
                "created_at": now, "updated_at": now}

    return _import(session, path=path, now=now, actor=actor, action="kpi.training_import", model=TrainingAssessment,
                   columns=TRAINING_COLUMNS, optional=("title",), keys=("branch_id", "session_code"),
                   update=("title", "held_on", "participants", "passed", "source", "updated_at"), parse=parse)
