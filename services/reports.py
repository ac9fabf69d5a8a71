"""The quarterly feedback-analysis report's content: every figure comes from services.kpi.

Rendering (HTML, charts, PDF, CSV/XLSX) lives in the `reports` package; this module only gathers
the numbers and lays them out as tables whose cells keep their raw values and units.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import BRANCH_KIND_NAMES, Branch, BranchKind
from services.kpi import (
    DIMENSIONS,
    KPI_DEFINITIONS,
    Breakdown,
    KpiDefinition,
    KpiSummary,
    Scope,
    format_value,
    headline_values,
    kpi_summary,
    resolve_scope,
)
from services.kpi_followup import CaseList, ImprovementEffect, improvement_effects, overdue_cases
from services.kpi_periods import Period
from services.kpi_scorecard import COMPONENTS, ScorecardRow, branch_scorecard
from services.kpi_text import CategoryText, analyse_categories

CHANNEL_NAMES = {"wechat": "微信公众号", "app": "手机银行APP", "offline": "线下（意见箱/到店/来电）"}
UNSET = "未指定"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    unit: str = "text"  # text | count | percent | hours | score | nps | datetime | points


@dataclass(frozen=True)
class Table:
    """One table of the report: shown in the HTML and exported as CSV and an XLSX sheet."""

    name: str  # file stem and sheet name (ASCII)
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    note: str = ""


@dataclass(frozen=True)
class KpiLine:
    definition: KpiDefinition
    value: float | None
    previous: float | None
    target: float | None
    meets: bool | None
    detail: str = ""


@dataclass(frozen=True)
class QuarterlyReport:
    quarter: Period
    scope: Scope
    branch_names: list[str]  # the selected branches; empty = the whole bank
    generated_at: datetime
    summary: KpiSummary
    kpi_lines: list[KpiLine]
    trend: list[tuple[Period, dict[str, float | None]]]  # oldest first, this quarter last
    category_text: list[CategoryText]
    improvements: list[ImprovementEffect]
    cases: CaseList
    scorecard: list[ScorecardRow]
    tables: dict[str, Table] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        s = self.summary
        return not (s.volume.total.tickets or s.satisfaction.total.responses or s.complaint_rate.total.visits.total
                    or s.inspection.total.inspections or s.training.total.sessions)


class Labels:
    """Chinese names of the codes stored in the database, from config.yaml and the branch table."""

    def __init__(self, session: Session, cfg: Any) -> None:
        self.cfg = cfg
        self.categories = dict(cfg.section("labels").get("categories", {}))
        self.types = dict(cfg.section("labels").get("types", {}))
        self.teams = dict(cfg.section("teams"))
        names = dict(session.execute(select(Branch.code, Branch.name)).all())
        # "千佳银行人民路支行营业部" reads as "人民路支行营业部" in tables: drop the prefix every branch shares.
        common = os.path.commonprefix(list(names.values())) if len(names) > 1 else ""
        self.branches = {code: (name[len(common):] or name) for code, name in names.items()}
        levels = cfg.get("escalation.levels") or []
        self.levels = {str(lv.get("code")): str(lv.get("name", lv.get("code"))) for lv in levels
                       if isinstance(lv, dict)}
        self.items = {str(i["code"]): str(i.get("name", i["code"])) for i in
                      (cfg.section("kpi").get("inspection", {}).get("items") or [])}
        self.aspects = dict(self.categories)

    def group(self, by: str, key: Any) -> str:
        if key is None:
            return UNSET
        if by == "branch":
            return self.branches.get(key, key)
        if by == "branch_kind":
            try:
                return BRANCH_KIND_NAMES[BranchKind(key)]
            except ValueError:
                return str(key)
        if by == "team":
            return str(self.teams.get(key, key))
        if by == "category":
            return str(self.categories.get(key, key))
        if by == "channel":
            return CHANNEL_NAMES.get(key, str(key))
        return str(key)

    def level(self, code: str) -> str:
        return self.levels.get(code, code)


def _target_text(line: KpiLine) -> str:
    if line.target is None:
        return ""
    return ("≤ " if line.definition.lower_is_better else "≥ ") + format_value(line.target, line.definition.unit)


def _detail(code: str, s: KpiSummary) -> str:
    t = s
    if code == "satisfaction":
        sat = t.satisfaction.total
        return f"有效答卷 {sat.responses} 份，满意 {sat.satisfied} 份"
    if code == "survey_response_rate":
        return f"发出调查 {t.satisfaction.total.invitations} 份"
    if code == "nps":
        sat = t.satisfaction.total
        return f"推荐者 {sat.promoters}、贬损者 {sat.detractors}（共 {sat.nps_responses} 份）"
    if code == "complaint_rate":
        cr = t.complaint_rate.total
        return f"投诉 {cr.complaints} 件 ÷ 到访 {cr.visits.total:,} 人次（分母：{cr.denominator_label}）"
    if code == "reply_24h_rate":
        fr = t.first_reply.total
        return f"按时答复 {fr.within_limit} 件 ÷ 应答复 {fr.due} 件"
    if code == "resolution_rate":
        rs = t.resolution.total
        return f"已办结 {rs.resolved} 件 ÷ 新建 {rs.tickets} 件"
    if code == "reopen_rate":
        ro = t.reopen.total
        return f"重开 {ro.reopened} 件 ÷ 曾办结 {ro.resolved_once} 件"
    if code == "revisit_rate":
        rv = t.revisit.total
        return f"已回访 {rv.revisited} 人 ÷ 投诉客户 {rv.complainants} 人"
    if code == "inspection_score":
        return f"检查 {t.inspection.total.inspections} 次"
    if code == "training_pass_rate":
        tr = t.training.total
        return f"通过 {tr.passed} 人 ÷ 参考 {tr.participants} 人（{tr.sessions} 场，达标 {tr.sessions_on_target} 场）"
    return ""


def _dimension_table(name: str, by: str, s: KpiSummary, labels: Labels, *, branch_extras: bool = False,
                     first_keys: Sequence[Any] = ()) -> Table:
    """One row per group of a dimension (first_keys always, then any other group with data)."""
    keys: list[Any] = list(dict.fromkeys([*first_keys, *s.volume.groups, *s.complaint_rate.groups,
                                          *s.satisfaction.groups]))

    def get(b: Breakdown[Any], key: Any) -> Any:
        return b.groups.get(key)

    columns = [Column("key", DIMENSIONS[by]), Column("tickets", "工单数", "count"), Column("complaints", "投诉量", "count"),
               Column("visits", "到访人次", "count"), Column("complaint_rate", "投诉率", "percent"),
               Column("reply_24h_rate", "24小时答复率", "percent"),
               Column("first_reply_median", "首次答复中位数", "hours"),
               Column("resolution_median", "办结时长中位数", "hours"), Column("reopen_rate", "重开率", "percent"),
               Column("satisfaction", "满意度", "percent"), Column("responses", "答卷数", "count"),
               Column("revisit_rate", "回访率", "percent")]
    if branch_extras:
        columns = [Column("code", "网点代码"), *columns, Column("inspection", "服务检查", "score"),
                   Column("training", "培训通过率", "percent")]
    rows = []
    for key in keys:
        vol, cr, fr = get(s.volume, key), get(s.complaint_rate, key), get(s.first_reply, key)
        rs, ro, sat, rv = get(s.resolution, key), get(s.reopen, key), get(s.satisfaction, key), get(s.revisit, key)
        row = [labels.group(by, key), vol.tickets if vol else 0, vol.complaints if vol else 0,
               cr.visits.total if cr and by in ("branch", "branch_kind", "month") else None,
               cr.value if cr else None, fr.value if fr else None, fr.median_hours if fr else None,
               rs.median_hours if rs else None, ro.value if ro else None, sat.value if sat else None,
               sat.responses if sat else 0, rv.value if rv else None]
        if branch_extras:
            ins, tr = get(s.inspection, key), get(s.training, key)
            row = [key or "", *row, ins.mean_score if ins else None, tr.value if tr else None]
        rows.append(row)
    return Table(name, f"按{DIMENSIONS[by]}", columns, rows)


def build_quarterly_report(session: Session, *, cfg: Any, quarter: str | Period, now: datetime,
                           branch_codes: Sequence[str] = ()) -> QuarterlyReport:
    """Gather every figure of the quarterly report (raises kpi.ScopeError for a bad quarter or branch)."""
    scope = resolve_scope(session, cfg=cfg, period=quarter, branch_codes=branch_codes)
    period = scope.window
    assert isinstance(period, Period)
    if period.kind != "quarter":
        from services.kpi import ScopeError

        raise ScopeError(f"“{period.label}”不是季度：请写成 2026Q3 这样的格式")
    report_cfg = cfg.section("kpi").get("report", {})
    labels = Labels(session, cfg)
    summary = kpi_summary(session, cfg=cfg, scope=scope, now=now)
    history = period.previous(int(report_cfg.get("trend_quarters", 4)))
    trend_summaries = [(q, kpi_summary(session, cfg=cfg, scope=Scope(q, scope.branch_ids), now=now)) for q in history]
    trend = [(q, headline_values(s)) for q, s in trend_summaries] + [(period, headline_values(summary))]
    previous = trend[-2][1] if len(trend) > 1 else {}
    current = trend[-1][1]
    kpi_lines = [KpiLine(d, current[d.code], previous.get(d.code), d.target(cfg), d.meets_target(current[d.code], cfg),
                         _detail(d.code, summary)) for d in KPI_DEFINITIONS]

    by_dim = {by: kpi_summary(session, cfg=cfg, scope=scope, now=now, by=by) for by in DIMENSIONS}
    prev_categories = kpi_summary(session, cfg=cfg, scope=Scope(period.shift(-1), scope.branch_ids), now=now,
                                  by="category") if history else None
    category_text = analyse_categories(
        session, scope=scope, top=int(report_cfg.get("top_keywords", 8)),
        sample=int(report_cfg.get("keyword_sample", 2000)), verbatims=int(report_cfg.get("verbatims_per_category", 2)))
    scorecard = branch_scorecard(session, cfg=cfg, scope=scope, now=now)
    monthly_cards = {m.label: branch_scorecard(session, cfg=cfg, scope=Scope(m, scope.branch_ids), now=now)
                     for m in period.months()}
    improvements = improvement_effects(session, cfg=cfg, scope=scope, now=now)
    cases = overdue_cases(session, scope=scope, now=now, limit=int(report_cfg.get("max_cases", 30)))
    branch_names = [labels.branches.get(c, c) for c in dict.fromkeys(branch_codes)]

    tables: dict[str, Table] = {}
    tables["kpis"] = Table("kpis", "核心指标", [
        Column("name", "指标"), Column("value", "本季度"), Column("previous", "上季度"), Column("target", "目标"),
        Column("meets", "是否达标"), Column("detail", "计算依据")],
        [[line.definition.name, format_value(line.value, line.definition.unit),
          format_value(line.previous, line.definition.unit), _target_text(line),
          None if line.meets is None else ("达标" if line.meets else "未达标"), line.detail] for line in kpi_lines],
        note="“—”表示本期没有数据。")
    tables["trend"] = Table("trend", "近几个季度趋势",
                            [Column("quarter", "季度")] + [Column(d.code, d.name, d.unit) for d in KPI_DEFINITIONS],
                            [[q.title] + [values[d.code] for d in KPI_DEFINITIONS] for q, values in trend])
    cat_now, cat_prev = by_dim["category"], prev_categories
    cat_rows: list[list[Any]] = []
    total_complaints = summary.volume.total.complaints
    for key in dict.fromkeys([*cat_now.volume.groups, *(cat_prev.volume.groups if cat_prev else {})]):
        now_c = cat_now.volume.groups[key].complaints if key in cat_now.volume.groups else 0
        prev_c = cat_prev.volume.groups[key].complaints if cat_prev and key in cat_prev.volume.groups else 0
        rate = cat_now.complaint_rate.groups.get(key)
        sat = cat_now.resolution_check.groups.get(key)
        cat_rows.append([key or "", labels.group("category", key), now_c, prev_c if cat_prev else None, now_c - prev_c,
                         (now_c - prev_c) / prev_c if prev_c else None,
                         now_c / total_complaints if total_complaints else None,
                         rate.value if rate else None,
                         cat_now.resolution.groups[key].median_hours if key in cat_now.resolution.groups else None,
                         sat.value if sat else None])
    cat_rows.sort(key=lambda r: (-r[2], r[0]))
    tables["categories"] = Table("categories", "投诉类别及变化", [
        Column("code", "类别代码"), Column("category", "问题类别"), Column("complaints", "本季度投诉", "count"),
        Column("previous", "上季度投诉", "count"), Column("change", "增减", "count"),
        Column("change_rate", "增减幅度", "percent"), Column("share", "占比", "percent"),
        Column("complaint_rate", "投诉率", "percent"), Column("resolution_median", "办结时长中位数", "hours"),
        Column("resolution_satisfaction", "处理满意度", "percent")], cat_rows,
        note="类别投诉率 = 该类投诉量 ÷ 全部到访人次（到访不区分类别）。")
    scope_codes = [r.branch_code for r in sorted(scorecard, key=lambda r: r.branch_code)]
    tables["branches"] = _dimension_table("branches", "branch", by_dim["branch"], labels, branch_extras=True,
                                          first_keys=scope_codes)
    for by in ("branch_kind", "team", "channel"):
        tables[by] = _dimension_table(by, by, by_dim[by], labels)
    tables["month"] = _dimension_table("month", "month", by_dim["month"], labels,
                                       first_keys=[m.label for m in period.months()])
    tables["scorecard"] = Table("scorecard", "网点综合考核排名", [
        Column("rank", "排名", "count"), Column("branch", "网点"), Column("score", "综合得分", "points"),
        *[Column(k, f"{v}得分", "points") for k, v in COMPONENTS.items()],
        Column("covered", "数据覆盖", "percent")] + [Column(f"m_{m}", f"{m}得分", "points") for m in monthly_cards],
        [[r.rank, labels.branches.get(r.branch_code, r.branch_name), r.score, *[r.points[k] for k in COMPONENTS], r.weight_covered,
          *[next((x.score for x in card if x.branch_code == r.branch_code), None) for card in monthly_cards.values()]]
         for r in scorecard],
        note="各项得分0–100：满意度、答复率、培训通过率按比率×100；投诉率在目标以下得100分、达到基线得0分、其间线性；"
             "回访率按达成目标的比例；服务检查按检查得分。缺数据的项目不计入，其余权重按比例放大。")
    tables["keywords"] = Table("keywords", "各类投诉关键词", [
        Column("category", "问题类别"), Column("texts", "分析条数", "count"), Column("keywords", "关键词（TF-IDF）")],
        [[labels.group("category", c.category), c.texts, "、".join(w for w, _ in c.keywords)] for c in category_text])
    tables["improvements"] = Table("improvements", "整改措施及前后投诉率", [
        Column("title", "措施"), Column("category", "问题类别"), Column("branches", "网点"),
        Column("published_at", "发布时间", "datetime"), Column("before", "实施前投诉率", "percent"),
        Column("after", "实施后投诉率", "percent"), Column("change", "变化（百分点）", "points"),
        Column("complete", "观察期")],
        [[e.title, labels.group("category", e.category) if e.category else "全部类别",
          "、".join(labels.branches.get(c, c) for c in e.branch_codes) or "全部网点", e.published_at,
          e.before.value, e.after.value, None if e.change is None else e.change * 100,
          "已满" if e.after_complete else "未满"] for e in improvements])
    levels = summary.escalations.total.by_level
    tables["escalations"] = Table("escalations", "超时升级（按级别）", [
        Column("level", "级别"), Column("count", "次数", "count")],
        [[labels.level(code), count] for code, count in sorted(levels.items())])
    tables["cases"] = Table("cases", "超时及升级工单", [
        Column("number", "工单号"), Column("branch", "网点"), Column("category", "问题类别"),
        Column("priority", "优先级"), Column("status", "状态"), Column("created_at", "创建时间", "datetime"),
        Column("first_replied_at", "首次答复", "datetime"), Column("overdue", "当前逾期"),
        Column("levels", "已触发升级")],
        [[c.number, labels.branches.get(c.branch_code, c.branch_code) if c.branch_code else UNSET,
          labels.group("category", c.category), "加急" if c.priority == "urgent" else "普通", STATUS_NAMES.get(c.status, c.status),
          c.created_at, c.first_replied_at, "是" if c.overdue else "否",
          "、".join(labels.level(lv) for lv in c.escalation_levels)] for c in cases.cases],
        note=f"当前逾期未结 {cases.overdue_open} 件，曾触发升级 {cases.escalated} 件；此处列出 {len(cases.cases)} 件（当前逾期的在前，其余按创建时间）。")
    return QuarterlyReport(period, scope, branch_names, now, summary, kpi_lines, trend, category_text, improvements,
                           cases, scorecard, tables)


STATUS_NAMES = {"new": "待处理", "open": "处理中", "pending": "待客户回复", "resolved": "已办结", "closed": "已关闭",
                "merged": "已合并"}
