"""The history of who was responsible for a case and which categories it had (case_assignments), so that a
report of a past month reads the cases as they were at the end of that month.

Every write that changes a case's status, worker or categories calls `sync_assignments` in its own
transaction: the history then follows the cases table by construction, whatever path changed it (a close, a
reopen, 转交, a worker disabled with their cases handed over, a roster import). `assignment_rows`,
`latest_assignment` and `assignment_at` are the read side."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    DateTime,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.sql import ColumnElement, Subquery

from bot.store.casework_models import Case, CaseAssignment
from bot.store.casework_records import utc

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def sync_assignments(s: AsyncSession, now: datetime, *where: ColumnElement[bool]) -> None:
    """Bring the history of the cases matching `where` (conditions on Case) in line with the cases as they
    are now: a current stretch whose case was closed, handed to another worker or given other categories ends
    at `now`, and an open case without a current stretch starts one at `now`. Nothing changes for a case
    whose stretch still matches, so calling it after any write is safe."""
    now = utc(now)
    current = CaseAssignment.ended_at.is_(None)
    changed = (
        select(Case.id)
        .where(
            Case.id == CaseAssignment.case_id,
            or_(
                Case.status != "open",
                Case.worker_id.is_distinct_from(CaseAssignment.worker_id),
                cast(Case.categories, Text) != cast(CaseAssignment.categories, Text),
            ),
        )
        .correlate(CaseAssignment)
    )
    await s.execute(
        update(CaseAssignment)
        .where(current, CaseAssignment.case_id.in_(select(Case.id).where(*where)), exists(changed))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    has_current = select(CaseAssignment.id).where(CaseAssignment.case_id == Case.id, current).correlate(Case)
    await s.execute(
        insert(CaseAssignment).from_select(
            ["case_id", "worker_id", "categories", "started_at"],
            select(Case.id, Case.worker_id, Case.categories, literal(now, DateTime(timezone=True))).where(
                *where, Case.status == "open", ~exists(has_current)
            ),
        )
    )


def assignment_rows(case_filter: ColumnElement[bool], start: datetime, end: datetime) -> Subquery:
    """The stretches of the cases matching `case_filter` (a condition on Case) that overlap [start, end): case_id,
    worker_id, categories (JSON text), started_at, ended_at (None: still open), seq (orders stretches that
    start at the same instant). A case written by a path that keeps no history (none should) counts as one
    stretch from its registration to its close, with its current worker and categories."""
    a = CaseAssignment
    kept = select(
        a.case_id.label("case_id"),
        a.worker_id.label("worker_id"),
        cast(a.categories, Text).label("categories"),
        a.started_at.label("started_at"),
        a.ended_at.label("ended_at"),
        a.id.label("seq"),
    ).where(
        a.case_id.in_(select(Case.id).where(case_filter)),
        a.started_at < utc(end),
        or_(a.ended_at.is_(None), a.ended_at >= utc(start)),
    )
    closed_at = case((Case.status == "open", cast(null(), DateTime(timezone=True))), else_=Case.closed_at)
    untracked = select(
        Case.id, Case.worker_id, cast(Case.categories, Text), Case.created_at, closed_at, literal(0)
    ).where(
        case_filter,
        ~exists(select(a.id).where(a.case_id == Case.id).correlate(Case)),
        Case.created_at < utc(end),
        or_(Case.status == "open", and_(Case.closed_at.is_not(None), Case.closed_at >= utc(start))),
    )
    return union_all(kept, untracked).subquery("stretch")


def latest_assignment(case_filter: ColumnElement[bool], start: datetime, end: datetime) -> Subquery:
    """Per case matching `case_filter` that was open at some time in [start, end), its last stretch there:
    case_id, worker_id, categories (JSON text)."""
    p = assignment_rows(case_filter, start, end)
    order = func.row_number().over(partition_by=p.c.case_id, order_by=(p.c.started_at.desc(), p.c.seq.desc()))
    ranked = select(p.c.case_id, p.c.worker_id, p.c.categories, order.label("rank")).subquery("ranked")
    return (
        select(ranked.c.case_id, ranked.c.worker_id, ranked.c.categories).where(ranked.c.rank == 1).subquery("latest")
    )


def assignment_at(case_filter: ColumnElement[bool], at: datetime) -> Subquery:
    """The cases matching `case_filter` that were open just before `at` (or closed at `at` exactly: a close at
    midnight closes a case after the month that ends then), each with its stretch then: case_id, worker_id,
    categories (JSON text). One row per case: a case's stretches follow each other without overlapping (each
    change ends one and starts the next at the same instant), so only one holds at an instant."""
    p = assignment_rows(case_filter, at, at)
    return select(p.c.case_id, p.c.worker_id, p.c.categories).subquery("then")


def stations_filter(station_ids: Sequence[int] | None) -> ColumnElement[bool]:
    """Case.station_id among these stations (None: every station)."""
    return Case.station_id.in_(list(station_ids)) if station_ids is not None else true()
