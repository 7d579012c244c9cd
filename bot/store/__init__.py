"""All storage goes through this package: `Store` is the one object features and channels receive."""

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
from bot.store.reminders import Contact, DigestPlan, DueRow, Identity, ListEntry, Notice, ResetSpec
from bot.store.repos import Store, StoredDocument, UserRecord

__all__ = [
    "CATEGORIES", "EXPORT_COLUMNS", "RISK_LEVELS", "ROLES", "VISIT_MODES", "CaseRecord", "CaseRow", "DatabaseError",
    "StationRecord", "Store", "StoredDocument", "UserRecord", "VisitDraft", "VisitRecord", "WorkerRecord",
    "create_engine", "upgrade",
    # reminders
    "Contact", "DigestPlan", "DueRow", "Identity", "ListEntry", "Notice", "ResetSpec",
]
