"""Realistic demo history for a fresh clone: tickets, visits, surveys, revisits, escalations, inspections,
training and improvement measures over several quarters, so the report and the dashboard have data.

Deterministic: the same seed and end date give the same rows. Tables of features that have not
landed (surveys, revisits, escalations, improvements) are filled only when their models exist.
The story told: complaints per visit fall from about the 15 % baseline toward the 5 % target, replies
and satisfaction improve, and each improvement measure halves its category's complaints in its branches.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from models import Branch, Customer, Message, Ticket, TicketEvent
from models.kpi import BranchInspection, TrainingAssessment, VisitCount
from services.branches import load_branch_file, upsert_branches
from services.kpi import bank_tz, inspection_items, optional_model, survey_aspects
from services.kpi_periods import Period
from services.sla import pending_answer_window, policy_hours

CHUNK = 5000

TYPE_WEIGHTS = {"complaint": 0.55, "suggestion": 0.18, "inquiry": 0.17, "praise": 0.10}
CHANNEL_WEIGHTS = {"wechat": 0.68, "app": 0.22, "offline": 0.10}
# How busy a branch kind is (relative ticket share per branch).
KIND_WEIGHT = {"business_hall": 1.0, "service_center": 0.7, "self_service": 0.35}
# Local hour-of-day profile of feedback (people write after their visit, some in the evening).
HOUR_WEIGHTS = [1, 0, 0, 0, 0, 1, 2, 4, 7, 11, 13, 12, 9, 9, 11, 12, 11, 9, 7, 7, 6, 5, 3, 2]


@dataclass
class DemoResult:
    start: date
    end: date
    counts: dict[str, int] = field(default_factory=dict)


class DemoDataExists(RuntimeError):
    """Demo rows of this seed are already in the database."""


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i:i + CHUNK]


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> int:
    for chunk in _chunks(rows):
        session.execute(insert(model), chunk)
    return len(rows)


def _progress(share: float) -> float:
    """0 at the start of the history, 1 at its end: drives the improving trends."""
    return min(max(share, 0.0), 1.0)


def generate(session: Session, *, cfg: Any, tickets: int, quarters: int, seed: int, until: date | None = None,
             now: datetime) -> DemoResult:
    """Write the demo history: `quarters` full quarters before the quarter of `until`, plus that quarter
    up to `until` (a bank-local date, default today)."""
    from nlp import load_corpus, redact

    tz = bank_tz(cfg)
    answer_window = pending_answer_window(cfg)
    rng = random.Random(seed)
    until = until or now.astimezone(tz).date()
    current = Period.containing(datetime.combine(until, time(12), tzinfo=tz), "quarter", tz)
    first_quarter = current.shift(-quarters)
    start_day, end_day = first_quarter.first_day, until + timedelta(days=1)
    start, end = _local(start_day, tz), min(_local(end_day, tz), now)
    prefix = f"oDEMO{seed % 100000:05d}"
    if session.scalar(select(func.count()).select_from(Customer).where(Customer.openid.like(f"{prefix}%"))):
        raise DemoDataExists(f"演示数据（--seed {seed}）已经生成过：请换一个 --seed，或先清空数据库")

    upsert_branches(session, rows=load_branch_file(), now=now)
    branches = session.execute(select(Branch.id, Branch.code, Branch.kind).where(Branch.active.is_(True))
                               .order_by(Branch.code)).all()
    result = DemoResult(start_day, until)
    categories = list(cfg.section("labels").get("categories", {}))
    routing = cfg.section("routing").get("categories", {})
    corpus = load_corpus()
    texts: dict[tuple[str, str], list[str]] = {}
    for ex in [*corpus.train, *corpus.heldout]:
        texts.setdefault((ex.type, ex.category), []).append(ex.text)

    # Improvement measures decided up front, so the tickets after them can show their effect.
    measures = _plan_measures(rng, first_quarter, current, until, categories, branches)

    # -- customers --
    next_customer = (session.scalar(select(func.max(Customer.id))) or 0) + 1
    n_customers = max(20, int(tickets * 0.75))
    customers = []
    for i in range(n_customers):
        b = rng.choice(branches)
        created = start - timedelta(days=rng.randint(0, 720))
        customers.append({"id": next_customer + i, "openid": f"{prefix}{i:09d}", "subscribed": True,
                          "subscribed_at": created, "branch_id": b.id, "created_at": created,
                          "last_interaction_at": created})
    result.counts["customers"] = _insert(session, Customer, customers)

    # -- tickets --
    branch_weights = [KIND_WEIGHT.get(b.kind, 0.5) * rng.uniform(0.7, 1.3) for b in branches]
    category_base = {c: rng.uniform(0.5, 1.5) for c in categories}
    category_base["wait_time"] = category_base.get("wait_time", 1) * 2.2  # the classic bank complaint
    category_base["staff_attitude"] = category_base.get("staff_attitude", 1) * 1.4
    sla = cfg.section("sla")
    span = (end - start).total_seconds()
    next_ticket = (session.scalar(select(func.max(Ticket.id))) or 0) + 1
    prefix_no = str(cfg.get("tickets.number_prefix", "QJ"))
    ticket_rows, message_rows, event_rows = [], [], []
    complaint_counts: dict[tuple[int, str], int] = {}  # (branch_id, quarter label) -> complaints
    days = max((end - start).days, 1)
    for i in range(tickets):
        day = start_day + timedelta(days=rng.randrange(days))
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        created = _local(day, tz) + timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
        if created >= end:
            created = end - timedelta(minutes=rng.randrange(1, 600))
        share = _progress((created - start).total_seconds() / span)
        b_index = rng.choices(range(len(branches)), weights=branch_weights)[0]
        branch = branches[b_index]
        kind = _weighted(rng, TYPE_WEIGHTS)
        weights = {c: category_base[c] * _measure_factor(measures, c, branch.id, created) for c in categories}
        category = _weighted(rng, weights)
        pool = texts.get((kind, category)) or texts.get(("complaint", category)) or ["（无内容）"]
        body = redact(rng.choice(pool))
        channel = _weighted(rng, CHANNEL_WEIGHTS)
        customer = customers[rng.randrange(n_customers)]
        priority = "urgent" if kind == "complaint" and rng.random() < 0.05 else "normal"
        first_h, resolution_h = policy_hours(sla, priority)
        # Replies speed up over the history: the 24-hour promise is kept more and more often.
        late = rng.random() < 0.14 * (1 - share) + 0.015
        reply_hours = rng.uniform(first_h * 1.05, first_h * 3) if late else min(
            rng.lognormvariate(math.log(first_h / 5), 0.8), first_h * 0.98)
        replied_at = created + timedelta(hours=reply_hours)
        resolve_hours = reply_hours + rng.lognormvariate(math.log(resolution_h / 3), 0.7)
        resolved_at: datetime | None = created + timedelta(hours=resolve_hours)
        status, reopen_count, closed_at = "resolved", 0, None
        if replied_at > now:
            replied_at, resolved_at, status = None, None, "new"  # type: ignore[assignment]
        elif resolved_at is not None and resolved_at > now:
            resolved_at, status = None, "open"
        if resolved_at is not None and rng.random() < 0.012:
            resolved_at, status = None, "pending"  # waiting for the customer: not resolved yet
        if resolved_at is not None and kind == "complaint" and rng.random() < 0.07 * (1 - share * 0.5):
            # The customer reopened it; most get resolved again a day or two later.
            reopen_count = 1
            again = resolved_at + timedelta(hours=rng.uniform(4, 72))
            resolved_at = again + timedelta(hours=rng.uniform(6, 60))
            if resolved_at > now:
                resolved_at, status = None, "open"
        if resolved_at is not None and resolved_at + timedelta(days=7) < now:
            status, closed_at = "closed", resolved_at + timedelta(days=7)
        first_due = created + timedelta(hours=first_h)
        resolution_due = created + timedelta(hours=resolution_h)
        open_now = status in ("new", "open", "pending")
        escalation_at = None
        # Pending since the team's reply, or more recently (the team asked again): its clocks are stopped
        # (services.sla.pause_deadlines). A demo wait is never older than the answer window, or the first
        # escalation sweep would end it at once (services.escalation.end_expired_waits).
        paused_at = max(replied_at, now - answer_window / 2) if status == "pending" else None
        if open_now:
            escalation_at = resolution_due if replied_at is not None else min(first_due, resolution_due)
        tid = next_ticket + i
        ticket_rows.append({
            "id": tid, "number": f"{prefix_no}{created.astimezone(tz):%y%m%d}-{tid:06d}", "channel": channel,
            "customer_id": customer["id"], "branch_id": branch.id, "type": kind, "category": category,
            "type_confidence": round(rng.uniform(0.6, 0.99), 3),
            "category_confidence": round(rng.uniform(0.55, 0.99), 3), "needs_triage": False,
            "team": routing.get(category), "priority": priority, "urgent_reasons": [], "status": status,
            "text": body, "created_at": created, "updated_at": closed_at or resolved_at or replied_at or created,
            "first_reply_due_at": None if replied_at is not None else first_due, "resolution_due_at": resolution_due,
            "escalation_at": escalation_at, "sla_paused_at": paused_at, "first_replied_at": replied_at,
            "resolved_at": resolved_at, "closed_at": closed_at, "reopen_count": reopen_count, "merged_into_id": None,
        })
        message_rows.append({"customer_id": customer["id"], "ticket_id": tid, "direction": "in", "channel": channel,
                             "msg_type": "text", "content": body, "delivery_status": None,
                             "created_at": created})
        if replied_at is not None:
            message_rows.append({"customer_id": customer["id"], "ticket_id": tid, "direction": "out",
                                 "channel": channel, "msg_type": "custom", "delivery_status": "sent",
                                 "content": "您好，您的反馈我们已收到并正在处理，感谢您的耐心。",
                                 "created_at": replied_at})
        event_rows.append({"ticket_id": tid, "kind": "created", "actor": "demo", "created_at": created,
                           "data": {"channel": channel, "type": kind, "category": category, "demo": True}})
        if kind == "complaint":
            q = Period.containing(created, "quarter", tz).label
            complaint_counts[(branch.id, q)] = complaint_counts.get((branch.id, q), 0) + 1
    result.counts["tickets"] = _insert(session, Ticket, ticket_rows)
    result.counts["messages"] = _insert(session, Message, message_rows)
    _insert(session, TicketEvent, event_rows)
    _fix_sequences(session, ("customers", "tickets"))

    quarters_list = [first_quarter.shift(k) for k in range(quarters + 1)]
    result.counts.update(_visits(session, rng, tz, branches, quarters_list, until, complaint_counts, customers, now))
    result.counts.update(_surveys(session, rng, cfg, tz, quarters_list, customers, ticket_rows, start, end, now))
    result.counts.update(_revisits(session, rng, ticket_rows, start, end, now))
    result.counts.update(_escalations(session, rng, cfg, ticket_rows, now))
    result.counts.update(_inspections(session, rng, cfg, branches, start_day, until, now))
    result.counts.update(_training(session, rng, branches, quarters_list, until, now))
    result.counts.update(_improvements(session, measures, now))
    session.flush()
    return result


def _local(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _fix_sequences(session: Session, tables: Sequence[str]) -> None:
    # Rows were inserted with explicit ids: move PostgreSQL's sequences past them.
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"))


@dataclass(frozen=True)
class _Measure:
    title: str
    body: str
    category: str
    branch_ids: tuple[int, ...]
    published: datetime
    effective: date


MEASURE_TEXTS = {
    "wait_time": ("高峰时段增开弹性窗口", "工作日10:00–11:30、15:00–16:30增开弹性窗口，大堂经理主动分流，排队超过15分钟可扫码登记预约。"),
    "staff_attitude": ("开展服务礼仪专项培训", "全体柜员与大堂经理完成服务礼仪与文明用语培训，考核合格后上岗。"),
    "fees": ("小额账户管理费减免", "对代发工资、养老金等账户免收小额账户管理费，收费标准在网点及手机银行公示。"),
    "self_service": ("自助设备巡检加密", "自助设备由每日一次巡检改为每日三次，吞卡30分钟内响应。"),
    "digital_channels": ("手机银行转账流程优化", "简化跨行转账验证步骤，短信验证码到达时间缩短至10秒内。"),
    "process_efficiency": ("简化开户材料清单", "个人开户所需材料精简为身份证及手机号，办理时间压缩至15分钟。"),
}


def _plan_measures(rng: random.Random, first: Period, current: Period, until: date, categories: list[str],
                   branches: Sequence[Any]) -> list[_Measure]:
    measures = []
    usable = [c for c in MEASURE_TEXTS if c in categories]
    q = first.shift(1)
    while q.first_day <= current.first_day and usable:
        for _ in range(2):
            category = usable.pop(0)
            usable.append(category)
            title, body = MEASURE_TEXTS[category]
            effective = q.first_day + timedelta(days=rng.randint(20, 60))
            if effective > until:
                continue
            halls = [b.id for b in branches if b.kind != "self_service"]
            chosen = tuple(sorted(rng.sample(halls, k=min(len(halls), rng.randint(2, 4))))) if rng.random() < 0.6 else ()
            published = datetime.combine(effective - timedelta(days=rng.randint(0, 5)), time(10), tzinfo=first.tz)
            measures.append(_Measure(title, body, category, chosen, published.astimezone(UTC), effective))
        q = q.shift(1)
    return measures


def _measure_factor(measures: Sequence[_Measure], category: str, branch_id: int, at: datetime) -> float:
    factor = 1.0
    for m in measures:
        if m.category == category and (not m.branch_ids or branch_id in m.branch_ids) and at >= m.published:
            factor *= 0.5
    return factor


def _visits(session: Session, rng: random.Random, tz: ZoneInfo, branches: Sequence[Any], quarters: list[Period],
            until: date, complaints: dict[tuple[int, str], int], customers: list[dict[str, Any]],
            now: datetime) -> dict[str, int]:
    """Daily counts for halls and service centres (complaint rate drifting from ~14 % to ~6 %);
    self-service areas have check-ins only."""
    counts, checkins = [], []
    visit = optional_model("models.conversation", "Visit")
    by_branch: dict[int, list[dict[str, Any]]] = {}
    for c in customers:
        by_branch.setdefault(c["branch_id"], []).append(c)
    for qi, q in enumerate(quarters):
        rate = 0.14 - 0.08 * qi / max(len(quarters) - 1, 1)
        days = [q.first_day + timedelta(days=d) for d in range((min(q.end_day, until + timedelta(days=1))
                                                               - q.first_day).days)]
        if not days:
            continue
        for b in branches:
            n_complaints = complaints.get((b.id, q.label), 0)
            total = max(int(n_complaints / (rate * rng.uniform(0.75, 1.3))), len(days))
            weights = [0.6 if d.weekday() >= 5 else 1.0 for d in days]
            share = total / sum(weights)
            if b.kind == "self_service" and visit is not None:
                pool = by_branch.get(b.id) or customers
                for d, w in zip(days, weights, strict=True):
                    for _ in range(max(0, round(share * w * rng.uniform(0.6, 1.4)))):
                        cust = rng.choice(pool)
                        at = _local(d, tz) + timedelta(hours=rng.uniform(7, 22))
                        if at > now:
                            continue
                        checkins.append({"customer_id": cust["id"], "branch_id": b.id, "source": "scan",
                                         "visited_at": at, "survey_due_at": None, "survey_status": None})
            else:
                for d, w in zip(days, weights, strict=True):
                    counts.append({"branch_id": b.id, "day": d, "count": max(0, round(share * w * rng.uniform(0.8, 1.2))),
                                   "source": "demo", "imported_at": now})
    out = {"visit_counts": _insert(session, VisitCount, counts)}
    if visit is not None:
        out["checkins"] = _insert(session, visit, checkins)
    return out


def _satisfaction_score(rng: random.Random, share: float) -> int:
    good = 0.70 + 0.17 * share  # CSAT rises over the history
    if rng.random() < good:
        return 5 if rng.random() < 0.55 else 4
    return rng.choices([3, 2, 1], weights=[5, 2, 1])[0]


def _surveys(session: Session, rng: random.Random, cfg: Any, tz: ZoneInfo, quarters: list[Period],
             customers: list[dict[str, Any]], tickets: list[dict[str, Any]], start: datetime, end: datetime,
             now: datetime) -> dict[str, int]:
    survey_round = optional_model("models.survey", "SurveyRound")
    invitation = optional_model("models.survey", "SurveyInvitation")
    response = optional_model("models.survey", "SurveyResponse")
    if survey_round is None or invitation is None or response is None:
        return {}
    aspects = survey_aspects(cfg)
    invitations, responses = [], []
    for qi, q in enumerate(quarters):
        begins = datetime.combine(q.first_day + timedelta(days=45), time(10), tzinfo=tz).astimezone(UTC)
        if begins > now:
            continue
        share = qi / max(len(quarters) - 1, 1)
        name = f"{q.title}满意度调查（演示 {customers[0]['openid'][:10]}）"
        round_id = session.execute(insert(survey_round).values(
            name=name, branch_codes=[], audience="both", starts_at=begins, ends_at=begins + timedelta(days=14),
            status="closed" if begins + timedelta(days=14) < now else "active", created_by="demo",
            created_at=begins).returning(survey_round.id)).scalar_one()
        for cust in rng.sample(customers, k=max(1, len(customers) // 4)):
            at = begins + timedelta(minutes=rng.randrange(600))
            invitations.append({"round_id": round_id, "customer_id": cust["id"], "invited_at": at,
                                "delivery_status": "sent", "delivery_channel": "custom"})
            if rng.random() < 0.38:
                done = at + timedelta(hours=rng.uniform(0.1, 20))
                if done > now:
                    continue
                overall = _satisfaction_score(rng, share)
                responses.append({
                    "round_id": round_id, "customer_id": cust["id"], "ticket_id": None, "branch_id": cust["branch_id"],
                    "visit_id": None, "kind": "satisfaction", "overall": overall,
                    "aspects": {a: max(1, min(5, overall + rng.choice([-1, 0, 0, 1]))) for a in aspects},
                    "nps": max(0, min(10, overall * 2 + rng.choice([-2, -1, 0, 0, 1]))), "comment": None,
                    "complaint_ticket_id": None, "started_at": at, "completed_at": done})
    # Post-resolution checks on a share of resolved tickets (one per ticket).
    for t in tickets:
        if t["resolved_at"] is None or rng.random() > 0.4:
            continue
        done = t["resolved_at"] + timedelta(hours=rng.uniform(0.5, 30))
        if done > now:
            continue
        share = _progress((t["created_at"] - start).total_seconds() / ((end - start).total_seconds() or 1))
        responses.append({
            "round_id": None, "customer_id": t["customer_id"], "ticket_id": t["id"], "branch_id": t["branch_id"],
            "visit_id": None, "kind": "resolution_check", "overall": _satisfaction_score(rng, share),
            "aspects": {}, "nps": None, "comment": None, "complaint_ticket_id": None,
            "started_at": t["resolved_at"], "completed_at": done})
    return {"survey_invitations": _insert(session, invitation, invitations),
            "survey_responses": _insert(session, response, responses)}


def _revisits(session: Session, rng: random.Random, tickets: list[dict[str, Any]], start: datetime, end: datetime,
              now: datetime) -> dict[str, int]:
    revisit = optional_model("models.staff", "Revisit")
    staff = optional_model("models.staff", "Staff")
    if revisit is None or staff is None:
        return {}
    staff_id = session.scalar(select(staff.id).order_by(staff.id).limit(1))
    if staff_id is None:
        # Nobody can sign in as this account (no valid password hash, inactive).
        staff_id = session.execute(insert(staff).values(
            username="demo_revisits", display_name="回访专员（演示）", password_hash="!", role="agent",
            team="service_quality", active=False, created_at=now).returning(staff.id)).scalar_one()
    rows = []
    span = (end - start).total_seconds() or 1
    for t in tickets:
        if t["type"] != "complaint" or t["resolved_at"] is None:
            continue
        share = (t["created_at"] - start).total_seconds() / span
        if rng.random() < 0.15 + 0.25 * share:
            at = t["resolved_at"] + timedelta(hours=rng.uniform(12, 96))
            if at < now:
                rows.append({"ticket_id": t["id"], "staff_id": staff_id, "method": rng.choice(["phone", "phone", "wechat", "visit"]),
                             "outcome": "客户表示问题已解决，对处理结果满意", "satisfaction": rng.choice([4, 5, 5, 3]),
                             "created_at": at})
    return {"revisits": _insert(session, revisit, rows)}


def _escalations(session: Session, rng: random.Random, cfg: Any, tickets: list[dict[str, Any]],
                 now: datetime) -> dict[str, int]:
    escalation = optional_model("models.scheduling", "Escalation")
    if escalation is None:
        return {}
    levels = {str(lv.get("code")): lv for lv in (cfg.get("escalation.levels") or []) if isinstance(lv, dict)}
    sla = cfg.section("sla")
    rows = []
    for t in tickets:
        first_h, _ = policy_hours(sla, t["priority"])
        due = t["created_at"] + timedelta(hours=first_h)
        replied = t["first_replied_at"]
        late_by = ((replied or now) - due).total_seconds() / 3600
        fired: list[tuple[str, datetime, str, datetime]] = []
        if late_by > 0 and "first_reply_breach" in levels:
            fired.append(("first_reply_breach", due, "first_reply", due))
        if late_by > 24 and "first_reply_breach_2" in levels:
            fired.append(("first_reply_breach_2", due, "first_reply", due + timedelta(hours=24)))
        res_due = t["resolution_due_at"]
        if (t["resolved_at"] or now) > res_due and "resolution_breach" in levels and res_due < now:
            fired.append(("resolution_breach", res_due, "resolution", res_due))
        for level, due_at, deadline, fire_at in fired:
            if fire_at > now:
                continue
            rows.append({"ticket_id": t["id"], "level": level, "deadline": deadline, "due_at": due_at,
                         "fire_at": fire_at, "fired_at": fire_at + timedelta(seconds=rng.randint(5, 60)),
                         "team": t["team"], "notify": str(levels[level].get("notify", "team"))})
    return {"escalations": _insert(session, escalation, rows)}


def _inspections(session: Session, rng: random.Random, cfg: Any, branches: Sequence[Any], start: date, until: date,
                 now: datetime) -> dict[str, int]:
    items = inspection_items(cfg)
    if not items:
        return {}
    rows = []
    month = start.replace(day=1)
    while month <= until.replace(day=1):
        for b in branches:
            if b.kind == "self_service":
                continue
            quality = rng.uniform(0.78, 0.97)
            scores = {str(i["code"]): round(min(float(i["max_points"]), float(i["max_points"]) * quality
                                                * rng.uniform(0.9, 1.1)) * 2) / 2 for i in items}
            possible = sum(float(i["max_points"]) for i in items)
            rows.append({"branch_id": b.id, "month": month, "score": round(100 * sum(scores.values()) / possible, 2),
                         "item_scores": scores, "inspector": "服务质量组（演示）", "note": None, "source": "demo",
                         "created_at": now, "updated_at": now})
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return {"inspections": _insert(session, BranchInspection, rows)}


def _training(session: Session, rng: random.Random, branches: Sequence[Any], quarters: list[Period], until: date,
              now: datetime) -> dict[str, int]:
    topics = ["服务礼仪与文明用语", "消费者权益保护与投诉处理", "反诈识别与风险提示", "手机银行操作指导"]
    rows = []
    for qi, q in enumerate(quarters):
        for b in branches:
            for k in range(rng.randint(1, 2)):
                held = q.first_day + timedelta(days=rng.randint(5, 80))
                if held > until:
                    continue
                participants = rng.randint(6, 24)
                pass_rate = min(1.0, rng.uniform(0.78, 1.0) + 0.03 * qi)
                rows.append({"branch_id": b.id, "session_code": f"DEMO-{q.label}-{k + 1}",
                             "title": topics[(qi + k) % len(topics)], "held_on": held, "participants": participants,
                             "passed": min(participants, round(participants * pass_rate)), "source": "demo",
                             "created_at": now, "updated_at": now})
    return {"training_sessions": _insert(session, TrainingAssessment, rows)}


def _improvements(session: Session, measures: Sequence[_Measure], now: datetime) -> dict[str, int]:
    improvement = optional_model("models.improvements", "Improvement")
    if improvement is None:
        return {}
    rows = [{"title": m.title, "body": m.body, "category": m.category, "branch_ids": list(m.branch_ids),
             "effective_date": m.effective, "created_by": "demo", "created_at": m.published,
             "published_at": m.published, "published_by": "demo", "include_category_feedback": False,
             "period_start": None, "period_end": None} for m in measures if m.published <= now]
    return {"improvements": _insert(session, improvement, rows)}
