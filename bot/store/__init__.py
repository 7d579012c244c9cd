"""The core store: `Store` (users, dialog state, intake, outbox, documents, audit) and the shared models and
records. Features add their queries as `FeatureStore` subclasses in their own packages."""

from bot.store.casework_records import (
    CATEGORIES,
    EXPORT_COLUMNS,
    RISK_LEVELS,
    ROLES,
    VISIT_MODES,
    CaseRecord,
    CaseRow,
    StationRecord,
    VisitDraft,
    VisitRecord,
    WorkerRecord,
)
from bot.store.database import DatabaseError, create_engine, upgrade
from bot.store.repos import Store, StoredDocument, UserRecord

__all__ = [
    "CATEGORIES", "EXPORT_COLUMNS", "RISK_LEVELS", "ROLES", "VISIT_MODES", "CaseRecord", "CaseRow", "DatabaseError",
    "StationRecord", "Store", "StoredDocument", "UserRecord", "VisitDraft", "VisitRecord", "WorkerRecord",
    "create_engine", "upgrade",
]
