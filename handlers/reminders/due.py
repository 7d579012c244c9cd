"""Due computation from each case's history: nothing about schedules is stored, so a recorded visit, a
category change or a closed case takes effect on the next computation without any bookkeeping.

For each item of a case (from its current categories and its station's rules):
  done   = the latest of: a visit matching the item's reset_by, a "完成" reply, a date of the roster's history
           (上次走访/入户/评估日期), whenever it was, even before the case was registered
  due    = done + every; never done: registration + every (first_within_days set: registration + that)
  one-time items (first_within_days, no every) are due once, registration + first_within_days, until done.
Never-done items of the cases of a station's first roster import are not all due on the same day: their first
due dates are spread evenly over the first interval, in case id order (see `spread_first_due`).
An item is listed from `lead_days` before its due date; it is overdue the day after.
"""

from __future__ import annotations

import asyncio
import json
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.reminders.rules import Interval, Item, RuleBook, RuleSet
from handlers.reminders.store import ROW_TRACKS, DueRow, Gate, ReminderStore, ResetSpec, Track

if TYPE_CHECKING:
    from bot.store import Store


@dataclass(frozen=True, slots=True)
class DueItem:
    case_id: int
    case_name: str
    village: str
    station_id: int
    worker_id: int | None
    item: Item
    due_date: date
    days_overdue: int  # negative: due in that many days
    snoozed_until: date | None = None

    @property
    def status(self) -> str:
        return "overdue" if self.days_overdue > 0 else "today" if self.days_overdue == 0 else "upcoming"

    @property
    def escalates(self) -> bool:
        """Overdue long enough that the station's leads are told."""
        after = self.item.escalate_after_days
        return after is not None and self.days_overdue >= max(after, 1)

    def sort_key(self) -> tuple[int, str, str]:
        # Most overdue first, then due today, then the soonest upcoming.
        return (-self.days_overdue, self.case_name, self.item.key)


def due_date(item: Item, registered: date, done: date | None) -> date | None:
    """When the item is next due, or None when a one-time item was done."""
    if item.every is None:
        return None if done is not None else registered + timedelta(days=item.first_within_days or 0)
    if done is None and item.first_within_days:
        return registered + timedelta(days=item.first_within_days)
    return item.every.add_to(registered if done is None else done)


def _fixed_offset(tz: ZoneInfo, today: date) -> timedelta | None:
    """The zone's UTC offset if it was the same over the last ten years and the next one, else None."""
    offsets = {tz.utcoffset(datetime(today.year + y, m, 1)) for y in range(-10, 2) for m in (1, 4, 7, 10)}
    return offsets.pop() if len(offsets) == 1 else None


def spec_of(item: Item) -> ResetSpec:
    return ResetSpec(item.reset_by.modes, item.reset_by.keywords)


def latest_anchor(item: Item, last_day: date) -> date | None:
    """The latest day an item may have been done (or the case registered) and still be due by `last_day`."""
    if item.every is None:
        return None
    anchor = last_day - timedelta(days=item.every.months * 31 + item.every.days)  # add_to is monotonic
    while item.every.add_to(anchor + timedelta(days=1)) <= last_day:
        anchor += timedelta(days=1)
    return anchor


class DueCalculator:
    """Tells the database which cases to send (the gates), then turns the rows it sends into DueItems."""

    def __init__(self, rules: RuleBook, tz: ZoneInfo, today: date, station_names: dict[int, str],
                 first_registered: dict[int, datetime] | None = None,
                 snoozes: dict[tuple[int, str, date], date] | None = None) -> None:
        self.rules, self.tz, self.today = rules, tz, today
        self.station_names = station_names
        self.own = {sid for sid, name in station_names.items() if name in rules.stations}  # own rule files
        tracks = {Track(i.key, spec_of(i)): None for r in rules.rule_sets() for i in r.all_items()}
        self.tracks = list(tracks)
        self.track_index = {t: j for j, t in enumerate(self.tracks)}
        self.snoozes = snoozes or {}
        self._offset = _fixed_offset(tz, today)
        self.first_days = {s: self.local(at) for s, at in (first_registered or {}).items()}
        self._items: dict[tuple[int, str], tuple[tuple[Item, int], ...]] = {}
        self._gate_plans: list[tuple[tuple[Item, int], ...]] = []
        # (station, item key, interval) → the ascending ids of its first import's cases with that item
        self.spread: dict[tuple[int, str, Interval], list[int]] = {}

    def first_import_ends(self) -> dict[int, datetime]:
        """Per station, the end of its first day in UTC: cases registered before it are its first import."""
        return {s: self._midnight_utc(day + timedelta(days=1)) for s, day in self.first_days.items()}

    def spread_first_due(self, first_import: Mapping[tuple[int, str], list[int]]) -> None:
        """First due dates for the never-done recurring items of a station's first import (given as ascending
        case ids per station and category list): per station and item, the k-th of n cases (by id) is due
        ceil(k × days / n) days after the import, where days is the item's first interval. So no day carries
        more than ceil(n / days) of them, a single case is due one interval after the import as any later case
        is, and a case keeps its date while the roster changes (closed cases keep their place; only a category
        change in a re-import moves the others). Only the id lists are kept here; a case's rank is looked up
        when one of its rows needs it (see first_due): most first-import cases have a history and never do."""
        groups: dict[tuple[int, str, Interval], list[list[int]]] = {}
        for (station, categories), ids in first_import.items():
            rules_of = station if station in self.own else 0
            for item, _j in self._plan(rules_of, categories):
                if item.every is not None and not item.first_within_days:
                    groups.setdefault((station, item.key, item.every), []).append(ids)
        self.spread = {k: parts[0] if len(parts) == 1 else sorted(i for p in parts for i in p)
                       for k, parts in groups.items()}

    def first_due(self, station_id: int, case_id: int, item: Item) -> date | None:
        """The spread first due date of a first-import case's never-done item (see spread_first_due)."""
        assert item.every is not None
        ids = self.spread.get((station_id, item.key, item.every))
        if not ids:
            return None
        rank = bisect_left(ids, case_id)
        if rank == len(ids) or ids[rank] != case_id:
            return None
        first = self.first_days[station_id]
        days = (item.every.add_to(first) - first).days
        return first + timedelta(days=math.ceil((rank + 1) * days / len(ids)))

    def local(self, at: datetime) -> date:
        """The local calendar day of a UTC time. Zones without daylight saving (Asia/Shanghai since 1991) take
        a fixed offset: this runs for every time of every returned case."""
        if self._offset is not None:
            return (at + self._offset).date()
        return at.astimezone(self.tz).date()

    def _midnight_utc(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.tz).astimezone(UTC)

    def _plan(self, station_key: int, categories: str) -> tuple[tuple[Item, int], ...]:
        """The items of a category list (JSON text) at a station with own rules (or 0: the default rules),
        with their track numbers."""
        found = self._items.get((station_key, categories))
        if found is None:
            name = self.station_names.get(station_key, "")
            rules: RuleSet = self.rules.for_station(name) if station_key else self.rules.default
            try:
                names = json.loads(categories)
            except ValueError:
                names = []
            items = rules.items_for(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()
            found = tuple((i, self.track_index[Track(i.key, spec_of(i))]) for i in items)
            self._items[(station_key, categories)] = found
        return found

    def gates(self, category_lists: list[tuple[int, str]]) -> list[Gate]:
        """Per category list, the exact bounds of cases that can be due today (see Gate). The rows the
        database sends back name their gate by its position in this list."""
        gates: list[Gate] = []
        n = len(self.tracks)
        for station_id, categories in category_lists:
            done: list[datetime | None] = [None] * n
            new: list[datetime | None] = [None] * n
            plan = self._plan(station_id, categories)
            for item, j in plan:
                last_day = self.today + timedelta(days=item.lead_days)
                if (anchor := latest_anchor(item, last_day)) is not None:
                    done[j] = self._midnight_utc(anchor + timedelta(days=1))
                if item.first_within_days:
                    new[j] = self._midnight_utc(last_day - timedelta(days=item.first_within_days - 1))
            if any(done) or any(new):
                gates.append(Gate(station_id, categories, tuple(done), tuple(new)))
                self._gate_plans.append(plan)
        return gates

    def items(self, row: DueRow) -> list[DueItem]:
        """The due items of one row of ReminderQueries.due_rows (see DueRow for its layout)."""
        case_id, station_id, worker_id, name, village, gate, created = row[:ROW_TRACKS]
        registered = self.local(created)
        today, found = self.today, []
        first_import = registered <= self.first_days.get(station_id, date.min)
        for item, j in self._gate_plans[gate]:
            last = row[ROW_TRACKS + j]
            due: date | None = None
            if last is None and first_import and item.every is not None and not item.first_within_days:
                due = self.first_due(station_id, case_id, item)
            if due is None:
                due = due_date(item, registered, None if last is None else self.local(last))
            if due is None or (due - today).days > item.lead_days:
                continue
            if item.new_cases_only and first_import:
                continue  # the station's first roster import is not a new registration
            found.append(DueItem(case_id, name, village, station_id, worker_id, item, due, (today - due).days,
                                 self.snoozes.get((case_id, item.key, due))))
        return found


async def compute_due(store: Store, rules: RuleBook, today: date, station_id: int | None = None,
                      worker_id: int | None = None, at: datetime | None = None,
                      station_ids: Sequence[int] | None = None) -> list[DueItem]:
    """Everything due, overdue or within its lead time on `today`, in no particular order (callers sort what
    they show; by_worker does). A dry run: nothing is written but the harvested marks (see harvest_marks).

    `at` (an instant, e.g. the end of a past month, with `today` its last day): as things stood then, from
    the case history and what was done and recorded before it (ReminderStore.due_rows), so that the answer
    for a past day does not change with later visits, handovers or closes. `station_ids`: only these."""
    reminders = ReminderStore.of(store)
    station_names = await reminders.station_names()
    calc_own = {sid for sid, name in station_names.items() if name in rules.stations}
    profile = await reminders.case_profile(sorted(calc_own))
    calc = DueCalculator(rules, store.tz, today, station_names, profile.first_registered,
                         await reminders.active_snoozes(today))
    if at is None:
        slots = await reminders.harvest_marks([t.spec for t in calc.tracks])
        gates = calc.gates(profile.categories)
    else:
        slots = {}
        gates = calc.gates(await reminders.category_lists_at(at, station_ids, sorted(calc_own)))
    ends = calc.first_import_ends()
    if station_ids is not None:
        ends = {s: end for s, end in ends.items() if s in set(station_ids)}
    # Two independent reads on their own connections, so that PostgreSQL runs them at once: the first
    # import's ids cost one more pass over the cases, the main query the most.
    first_import, rows = await asyncio.gather(
        reminders.first_import_ids(ends),
        reminders.due_rows(calc.tracks, gates, slots, station_id=station_id, worker_id=worker_id,
                           first_import_ends=ends, at=at, station_ids=station_ids),
    )
    calc.spread_first_due(first_import)
    return [d for row in rows for d in calc.items(row)]


def by_worker(items: Iterable[DueItem]) -> dict[int | None, list[DueItem]]:
    grouped: dict[int | None, list[DueItem]] = {}
    for d in items:
        grouped.setdefault(d.worker_id, []).append(d)
    for found in grouped.values():
        found.sort(key=DueItem.sort_key)
    return grouped
