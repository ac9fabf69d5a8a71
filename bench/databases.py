"""Private databases for benchmarks: a new PostgreSQL database (dropped afterwards) or a SQLite file."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import normalize_url


def private_database(base_url: str | None, *, prefix: str) -> tuple[str, Callable[[], None]]:
    """(URL, drop): a fresh database on the PostgreSQL server of `base_url`, else a SQLite file."""
    if not base_url or not base_url.startswith("postgres"):
        folder = tempfile.mkdtemp(prefix=f"{prefix}-")
        return f"sqlite:///{folder}/bench.db", lambda: None
    base = make_url(normalize_url(base_url))
    name = f"{prefix}_{uuid.uuid4().hex[:8]}".replace("-", "_")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop
