"""Alembic environment: runs on the connection that bot.store.migrate hands over."""

from alembic import context

from bot.store import (
    casework_models,  # noqa: F401 - registers the casework tables
    handoff_models,  # noqa: F401 - registers the handoff tables
    reminder_models,  # noqa: F401 - registers the reminder tables
)
from bot.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
