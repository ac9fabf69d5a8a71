"""Database helpers: SQLite read-only sessions do not queue behind a writer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from core.db import get_engine, read_only_sessions, session_factory, transaction, upgrade
from models import Branch


def test_read_only_session_reads_while_a_write_transaction_is_open(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'ro.db'}")
    upgrade(engine)
    writes = session_factory(engine)
    with transaction(writes) as s:
        s.add(Branch(code="A", name="甲网点", created_at=datetime.now(UTC)))
    with transaction(writes) as writer:
        writer.add(Branch(code="B", name="乙网点", created_at=datetime.now(UTC)))
        writer.flush()  # holds SQLite's write lock until the block ends
        # Without the read-only path this would wait for the writer (and time out with "database is locked").
        with read_only_sessions(engine)() as reader:
            assert reader.scalar(select(func.count()).select_from(Branch)) == 1  # the committed snapshot
    with read_only_sessions(engine)() as reader:
        assert reader.scalar(select(func.count()).select_from(Branch)) == 2
    engine.dispose()
