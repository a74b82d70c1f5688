"""Alembic's environment, run by `psoas-bot migrate` and by the tests."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from bot.data.installations import OAUTH_METADATA
from bot.data.models import Base
from bot.data.schema import include_name

config = context.config
# Our models, and slack_sdk's installation and OAuth state tables on the same database.
target_metadata = [Base.metadata, OAUTH_METADATA]


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        include_name=include_name,  # not the compatibility record bot/data/schema.py keeps
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_name=include_name,  # not the compatibility record bot/data/schema.py keeps
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
