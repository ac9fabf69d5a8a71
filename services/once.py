"""Exactly-once inserts: a unique key decides, a conflict means "already done".

PostgreSQL and SQLite use INSERT … ON CONFLICT DO NOTHING (no savepoint per row, and a
concurrent inserter waits for the first transaction, then skips); any other database
inserts row by row in a savepoint and treats a unique violation the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def _insert_for(session: Session, model: Any) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing()  # type: ignore[no-any-return]
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).on_conflict_do_nothing()  # type: ignore[no-any-return]
    return insert(model)


def insert_ignore(
    session: Session, model: Any, rows: Sequence[Mapping[str, Any]], *, returning: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Insert the rows the unique keys allow; return `returning` columns of those this call inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        stmt = _insert_for(session, model).values(list(rows)).returning(*returning)
        return [tuple(r) for r in session.execute(stmt)]
    inserted: list[tuple[Any, ...]] = []
    for row in rows:
        try:
            with session.begin_nested():
                result = session.execute(insert(model).values(dict(row)).returning(*returning))
                inserted.append(tuple(result.one()))
        except IntegrityError:
            continue
    return inserted


def insert_from_select_ignore(session: Session, model: Any, columns: Sequence[str], select_stmt: Any) -> int:
    """INSERT INTO model (columns) SELECT … skipping rows a unique key already holds; returns rows added."""
    stmt = _insert_for(session, model).from_select(list(columns), select_stmt)
    # Counted through RETURNING: psycopg reports no rowcount for this statement.
    return sum(1 for _ in session.connection().execute(stmt.returning(model.id)))
