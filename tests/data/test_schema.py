"""Migrations: down to empty and back, and in step with the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.data.installations import OAUTH_METADATA
from bot.data.models import Base
from bot.data.schema import current_revision, downgrade, head_revision, include_name, upgrade


def test_migrations_go_down_to_empty_and_back_to_head(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        downgrade(database_url, "base")
        assert not {"people", "workspaces"} & set(inspect(engine).get_table_names())
        upgrade(database_url, "head")
        assert current_revision(engine) == head_revision()
        assert {"people", "workspaces"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        differences = compare_metadata(context, [Base.metadata, OAUTH_METADATA])
    engine.dispose()
    assert differences == []
