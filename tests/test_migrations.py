"""The Alembic migrations and the models describe the same schema, and run both ways."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from core.db import downgrade, get_engine, migration_status, upgrade
from models import Base


def _diff(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return [d for d in compare_metadata(ctx, Base.metadata)]


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = get_engine(db_url)
    current, head = migration_status(engine)
    assert current == head
    assert _diff(engine) == []


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'mig.db'}")
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert _diff(engine) == []
    engine.dispose()
