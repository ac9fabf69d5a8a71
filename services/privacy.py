"""Data-subject requests (PIPL): export everything held about a customer, or erase it.

Nothing here lists tables by name.  What belongs to a customer is discovered from
`Base.metadata`: the customer row, every row whose foreign key points at it, every row
pointing at those (tickets → messages, escalations → notification deliveries, …), so the
tables other modules add are covered without changes here.  On those rows:

- `Text` columns (free text: messages, comments, notes) are replaced by a placeholder;
- `String` columns whose name says they identify a person (name, phone, contact, openid,
  user_id, media, …) are cleared; other `String` values are kept when they look like a
  code (ASCII, no spaces: statuses, ticket numbers) and cleared otherwise;
- `JSON` values keep their structure and code-like strings; other strings are cleared.
A column can opt in or out explicitly with `info={"pii": True}` / `info={"pii": False}`.
Then every table is searched for the openid and the customer's texts (copies quoted in
notifications, API responses, audit data…) and those values are scrubbed as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    cast,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from models import AppCustomer, Base, Customer, InboundDedup
from services import audit

ERASED = "[已删除]"
ANONYMISED = "[已匿名]"

_PII_NAME_RE = re.compile(
    r"openid|unionid|name|phone|mobile|email|contact|address|user_id|id_card|id_number|card_no|"
    r"remote_addr|nickname|media"
)
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:/#+\-]{0,64}$")
# Texts shorter than this are not searched for elsewhere (too likely to match unrelated rows).
_MIN_SEARCH_TEXT = 8
_MAX_SEARCH_TEXTS = 200


# -- schema discovery -----------------------------------------------------------------------


def _single_pk(table: Table) -> Column[Any] | None:
    pks = list(table.primary_key.columns)
    return pks[0] if len(pks) == 1 else None


def _is_text(column: Column[Any]) -> bool:
    return isinstance(column.type, Text)


def _is_string(column: Column[Any]) -> bool:
    return isinstance(column.type, String) and not _is_text(column)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _structural(column: Column[Any]) -> bool:
    return column.primary_key or bool(column.foreign_keys)


def _unique(column: Column[Any]) -> bool:
    table = column.table
    if column.unique:
        return True
    if any(isinstance(c, UniqueConstraint) and column.name in c.columns for c in table.constraints):
        return True
    return any(index.unique and column.name in index.columns for index in table.indexes)


def data_columns(table: Table) -> list[Column[Any]]:
    """The columns erasure looks at: text, string and JSON columns that are not keys."""
    return [c for c in table.columns
            if not _structural(c) and (_is_string(c) or _is_text(c) or _is_json(c)) and c.info.get("pii") is not False]


def free_text_columns(table: Table) -> list[Column[Any]]:
    """Free-text columns (Text, or marked pii): what retention anonymises after N months."""
    return [c for c in data_columns(table) if (_is_text(c) or c.info.get("pii") is True) and not _is_json(c)]


def customer_tables() -> list[Table]:
    """customers and every table reachable from it through foreign keys pointing at it."""
    linked: list[Table] = []
    reached = {Customer.__table__}
    for table in Base.metadata.sorted_tables:
        if table in reached:
            linked.append(table)
            continue
        if any(fk.column.table in reached and fk.column.table is not table for fk in table.foreign_keys):
            reached.add(table)
            linked.append(table)
    return linked


@dataclass
class Holding:
    """The rows held about one customer, as a selector per table."""

    customer_id: int
    openid: str | None
    selectors: dict[Table, ColumnElement[bool]] = field(default_factory=dict)


def find_holding(session: Session, customer: Customer) -> Holding:
    """Walk the foreign keys from the customer row outwards (parents before children)."""
    holding = Holding(customer_id=customer.id, openid=customer.openid)
    customers = Customer.__table__
    ids: dict[Table, list[Any]] = {customers: [customer.id]}
    holding.selectors[customers] = customers.c.id == customer.id
    for table in customer_tables():
        if table is customers:
            continue
        conditions = [fk.parent.in_(ids[fk.column.table]) for fk in table.foreign_keys
                      if fk.column.table in ids and fk.column.table is not table and ids[fk.column.table]]
        if not conditions:
            ids[table] = []
            continue
        selector = or_(*conditions)
        holding.selectors[table] = selector
        pk = _single_pk(table)
        ids[table] = list(session.scalars(select(pk).where(selector))) if pk is not None else []
    return holding


# -- value rules ------------------------------------------------------------------------------


def _placeholder(column: Column[Any], row_key: str, text: str) -> str | None:
    if _unique(column):
        return None if column.nullable else f"erased-{row_key}"[: _length(column)]
    length = _length(column)
    return text if length is None or len(text) <= length else ("" if not column.nullable else None)


def _length(column: Column[Any]) -> int | None:
    return getattr(column.type, "length", None)


def _scrub_json(value: Any, openid: str | None) -> Any:
    if isinstance(value, str):
        if openid and openid in value:
            return ERASED
        return value if _CODE_RE.match(value) else ERASED
    if isinstance(value, list):
        return [_scrub_json(v, openid) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json(v, openid) for k, v in value.items()}
    return value


def _erased_value(column: Column[Any], value: Any, row_key: str, openid: str | None) -> Any:
    """The value a held row's column gets on erasure (the same value when nothing personal)."""
    if value is None:
        return None
    if _is_json(column):
        return _scrub_json(value, openid)
    if column.info.get("pii") is True or _is_text(column) or _PII_NAME_RE.search(column.name):
        if value in ("", ERASED, ANONYMISED):
            return value
        return _placeholder(column, row_key, ERASED)
    text = str(value)
    if (openid and openid in text) or not _CODE_RE.match(text):
        return _placeholder(column, row_key, ERASED)
    from core.logging import redact_text

    return value if redact_text(text) == text else _placeholder(column, row_key, ERASED)


# -- export -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _rows(session: Session, table: Table, selector: ColumnElement[bool]) -> list[dict[str, Any]]:
    order = list(table.primary_key.columns)
    result = session.execute(select(table).where(selector).order_by(*order))
    return [{k: _jsonable(v) for k, v in row._mapping.items()} for row in result]


def export_customer(session: Session, *, who: CustomerRef, actor: str, now: datetime,
                    reason: str | None = None) -> dict[str, Any]:
    """Everything held about the customer, by table; audited."""
    customer = find_customer(session, who)
    holding = find_holding(session, customer)
    tables = {t.name: rows for t, sel in holding.selectors.items() if (rows := _rows(session, t, sel))}
    mentions = {t.name: rows for t, sel in _mention_selectors(customer.openid, [])
                if (rows := _rows(session, t, sel))}
    audit_rows = _rows(session, Base.metadata.tables["audit_log"],
                       (Base.metadata.tables["audit_log"].c.target_type == "customer")
                       & (Base.metadata.tables["audit_log"].c.target_id == str(customer.id)))
    audit.record(session, actor=actor, action="customer.export", now=now, target_type="customer",
                 target_id=customer.id, data={"tables": {k: len(v) for k, v in tables.items()},
                                              **({"reason": reason} if reason else {})})
    return {
        "exported_at": now.isoformat(),
        "customer_id": customer.id,
        "tables": tables,
        "other_mentions": {k: v for k, v in mentions.items() if k not in tables},
        "audit_log": audit_rows,
    }


class CustomerNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CustomerRef:
    """How a data-subject request names the customer: their WeChat openid, or the app's own customer id
    (the X-Customer-Id of one app, see app_customers)."""

    openid: str | None = None
    app: str | None = None
    app_user_id: str | None = None

    def describe(self) -> str:
        """For messages to the operator (Chinese)."""
        if self.openid is not None:
            return "该 openid 对应的客户"
        return f"APP {self.app} 中 ID 为 {self.app_user_id} 的客户"


def find_customer(session: Session, who: CustomerRef) -> Customer:
    """The customer a data-subject request names; CustomerNotFound if none (never contacted us, or erased)."""
    if who.openid is not None:
        query = select(Customer).where(Customer.openid == who.openid)
    else:
        query = select(Customer).join(AppCustomer, AppCustomer.customer_id == Customer.id).where(
            AppCustomer.app == who.app, AppCustomer.app_user_id == who.app_user_id)
    customer = session.scalars(query).one_or_none()
    if customer is None:
        raise CustomerNotFound(who.describe())
    return customer


# -- erase ------------------------------------------------------------------------------------


_CLAUSE_RE = re.compile(r"[，。！？；,.!?;\n]+")


def _authored_rows(table: Table, selector: ColumnElement[bool]) -> ColumnElement[bool]:
    """Of the held rows, those the customer wrote: not our own outbound messages."""
    direction = table.c.get("direction")
    return selector if direction is None else and_(selector, direction != "out")


def _text_needles(session: Session, holding: Holding, templates: Iterable[str] = ()) -> list[str]:
    """What the customer wrote (whole texts and clauses), to find copies or quotes in other tables.

    Only tables pointing at the customer directly, minus outbound messages: text written
    by staff or the bot shares template phrases with every other customer's rows.
    """
    boilerplate = {piece.strip() for t in templates for piece in _CLAUSE_RE.split(re.sub(r"\{[^}]*\}", "\n", t))}
    needles: set[str] = set()
    customers = Customer.__table__
    for table, selector in holding.selectors.items():
        if not any(fk.column.table is customers for fk in table.foreign_keys):
            continue
        for column in free_text_columns(table):
            rows = session.scalars(select(column).where(_authored_rows(table, selector)).where(column.is_not(None)))
            for value in rows:
                text = str(value).strip()
                if text in (ERASED, ANONYMISED):
                    continue
                for piece in (text, *_CLAUSE_RE.split(text)):
                    piece = piece.strip()
                    if len(piece) >= _MIN_SEARCH_TEXT and piece not in boilerplate and piece not in needles \
                            and _distinctive(session, column, selector, piece):
                        needles.add(piece)
                    if len(needles) >= _MAX_SEARCH_TEXTS:
                        return sorted(needles, key=len, reverse=True)
    return sorted(needles, key=len, reverse=True)


def _distinctive(session: Session, column: Column[Any], selector: ColumnElement[bool], piece: str) -> bool:
    """Not also written by someone else (event markers like "[subscribe]", stock phrases)."""
    # coalesce: NOT (fk IN (…)) is NULL, not true, on rows whose foreign key is NULL.
    held = func.coalesce(selector, false())
    others = select(column).where(~held, column.contains(piece, autoescape=True)).limit(1)
    return session.execute(others).first() is None


def _mention_selectors(openid: str | None, texts: list[str]) -> Iterator[tuple[Table, ColumnElement[bool]]]:
    """Per table, the rows whose string/JSON columns contain the openid or one of the texts."""
    for table in Base.metadata.sorted_tables:
        conditions: list[ColumnElement[bool]] = []
        for column in table.columns:
            if not (_is_string(column) or _is_text(column) or _is_json(column)) or column.info.get("pii") is False:
                continue
            target = cast(column, Text) if _is_json(column) else column
            needles = [openid] if openid else []
            if _is_text(column) or _is_json(column):
                needles += texts
            for needle in needles:
                conditions.append(target.contains(needle, autoescape=True))
                if _is_json(column):
                    escaped = json.dumps(needle)[1:-1]  # JSON stores non-ASCII as \\uXXXX
                    if escaped != needle:
                        conditions.append(target.contains(escaped, autoescape=True))
        if conditions:
            yield table, or_(*conditions)


def _scrub_mention(column: Column[Any], value: Any, openid: str | None, texts: list[str], row_key: str) -> Any:
    if value is None:
        return None
    if _is_json(column):
        return _scrub_json_mentions(value, openid, texts)
    text = str(value)
    hit = (openid and openid in text) or any(t in text for t in texts)
    if not hit:
        return value
    if _is_text(column):
        for needle in ([openid] if openid else []) + texts:
            text = text.replace(needle, ERASED)
        return text
    return _placeholder(column, row_key, ERASED)


def _scrub_json_mentions(value: Any, openid: str | None, texts: list[str]) -> Any:
    if isinstance(value, str):
        for needle in ([openid] if openid else []) + texts:
            value = value.replace(needle, ERASED)
        return value
    if isinstance(value, list):
        return [_scrub_json_mentions(v, openid, texts) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json_mentions(v, openid, texts) for k, v in value.items()}
    return value


def _row_key(table: Table, row: Mapping[str, Any]) -> str:
    return "-".join(str(row[c.name]) for c in table.primary_key.columns)


def _pk_match(table: Table, row: Mapping[str, Any]) -> ColumnElement[bool]:
    return and_(*[c == row[c.name] for c in table.primary_key.columns])


def _rewrite(session: Session, table: Table, selector: ColumnElement[bool], columns: Iterable[Column[Any]],
             new_value: Any) -> int:
    """Apply new_value(column, value, row_key) to the selected rows; return how many changed."""
    columns = list(columns)
    if not columns:
        return 0
    keys = list(table.primary_key.columns)
    changed = 0
    rows = session.execute(select(*keys, *[c for c in columns if c not in keys]).where(selector)).mappings().all()
    for row in rows:
        row_key = _row_key(table, row)
        values = {c.name: new for c in columns if (new := new_value(c, row[c.name], row_key)) != row[c.name]}
        if values:
            session.execute(update(table).where(_pk_match(table, row)).values(**values))
            changed += 1
    return changed


@dataclass(frozen=True)
class ErasureReport:
    customer_id: int
    rows: dict[str, int]  # table -> rows changed or deleted

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def erase_holding(session: Session, *, customer: Customer, now: datetime, actor: str, action: str = "customer.erase",
                  reason: str | None = None, templates: Iterable[str] = ()) -> ErasureReport:
    """Erase a customer's personal data in every table (the caller commits); audited.

    `templates`: the bot's message templates (config `messages:`), never treated as the customer's words.
    """
    from core.metrics import record_retention

    openid = customer.openid
    holding = find_holding(session, customer)
    texts = _text_needles(session, holding, templates)
    counts: dict[str, int] = {}

    def add(table: str, n: int) -> None:
        if n:
            counts[table] = counts.get(table, 0) + n

    if openid:
        # Retries of this customer's deliveries, keyed by the openid: transient, so deleted.
        add(InboundDedup.__tablename__, session.execute(
            delete(InboundDedup).where(InboundDedup.dedup_key.contains(f":{openid}:", autoescape=True))
        ).rowcount or 0)
    for table, selector in holding.selectors.items():
        add(table.name, _rewrite(session, table, selector, data_columns(table),
                                 lambda c, v, k: _erased_value(c, v, k, openid)))
    for table, selector in _mention_selectors(openid, texts):
        columns = [c for c in table.columns if not _structural(c)
                   and (_is_string(c) or _is_text(c) or _is_json(c)) and c.info.get("pii") is not False]
        add(table.name, _rewrite(session, table, selector, columns,
                                 lambda c, v, k: _scrub_mention(c, v, openid, texts, k)))
    customer.openid = None
    customer.subscribed = False
    counts[Customer.__tablename__] = max(counts.get(Customer.__tablename__, 0), 1)
    for table_name, n in counts.items():
        record_retention(table_name, "erased", n)
    audit.record(session, actor=actor, action=action, now=now, target_type="customer", target_id=customer.id,
                 data={"rows": counts, **({"reason": reason} if reason else {})})
    return ErasureReport(customer_id=customer.id, rows=counts)


def erase_customer(session: Session, *, who: CustomerRef, now: datetime, actor: str, reason: str | None = None,
                   templates: Iterable[str] = ()) -> ErasureReport:
    """`qianjia customer erase`: find the customer (openid or app id) and erase everything held about them."""
    return erase_holding(session, customer=find_customer(session, who), now=now, actor=actor, reason=reason,
                         templates=templates)


__all__ = [
    "ANONYMISED",
    "ERASED",
    "CustomerNotFound",
    "CustomerRef",
    "ErasureReport",
    "customer_tables",
    "data_columns",
    "erase_customer",
    "erase_holding",
    "export_customer",
    "find_customer",
    "find_holding",
    "free_text_columns",
]
