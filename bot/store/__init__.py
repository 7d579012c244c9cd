"""All storage goes through this package: `Store` is the one object features and channels receive."""

from bot.store.database import DatabaseError, create_engine, upgrade
from bot.store.repos import Store, StoredDocument, UserRecord

__all__ = ["DatabaseError", "Store", "StoredDocument", "UserRecord", "create_engine", "upgrade"]
