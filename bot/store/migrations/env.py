"""Alembic environment: runs on the connection that bot.store.migrate hands over.

Part of the wiring, like bot/app.py: the target metadata (for autogenerate and schema comparison) is every
table, the shared ones and those of the models modules that handlers.FEATURES lists."""

from alembic import context

from bot.store.schema import target_metadata
from handlers import FEATURES

connection = context.config.attributes["connection"]
metadata = target_metadata(module for feature in FEATURES for module in feature.models)
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
