"""The monthly report as a pure computation: facts loaded from the database in, one JSON-ready dict out.
Chat (`本站统计`, `覆盖率`, …), the dashboard and `shegong report monthly` all show numbers from this dict.

Definitions (also in the README's station section). Every number of a month is computed from what was true
then, so that a past month's report does not change when cases are handed over or closed later:
- a month is a calendar month in local time (Asia/Shanghai); visits count in the month their local date is in;
- a case is active in a month when it was open at some time in it: from its registration to its close, by its
  history (bot.store.case_periods; a reopened case is active again from its reopening);
- its categories and responsible worker in a month are those it had at the month's end, or when it was
  closed if that was in the month;
- served: an active case with at least one visit in the month; home-visited: at least one 入户 visit;
  each is also given as a rate of the active cases (the coverage). A case counts once in the totals and
  once in each of its categories. A visit entered late (recorded after the month ended) counts in the month
  of its visit date: it was service in that month;
- per worker: the active cases they were responsible for in the month, how many of those were served (by
  whoever visited), and the visits they recorded themselves;
- overdue items at the month's end: the reminders' due computation as things stood at the month's end,
  from the visits made AND recorded before it (a late entry does not undo an item overdue then), so that
  the number can be reproduced; for the current month, as of today;
- a danger event is a visit in the month with danger words or a high risk after the visit; it is followed
  up when the case has a later visit (up to when the report was made);
- needs and services: each visit's note counted once in each category it mentions (data file).
"""

from __future__ import annotations

import heapq
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from handlers.common.area import Area
from handlers.reports.categories import ServiceCategories

TREND_MONTHS = 6  # the months before the report month shown for the trend
UNASSIGNED = "未分配"
OVERDUE_LIST = 200  # the most overdue items listed (the count covers all)


@dataclass(frozen=True, order=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`2026-11` (also 2026-1, 2026/11, 2026年11月)."""
        cleaned = text.strip().replace("年", "-").replace("月", "").replace("/", "-")
        year, _, month = cleaned.partition("-")
        if not (year.isdigit() and month.isdigit() and len(year) == 4 and 1 <= int(month) <= 12):
            raise ValueError(f"月份应为 YYYY-MM，例如 2026-11（收到：{text}）")
        return cls(int(year), int(month))

    @classmethod
    def of(cls, at: datetime, tz: tzinfo) -> Month:
        local = at.astimezone(tz)
        return cls(local.year, local.month)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def last_day(self) -> date:
        return self.shift(1).first_day() - timedelta(days=1)

    def start(self, tz: tzinfo) -> datetime:
        """The month's first instant in local time, as UTC."""
        return datetime.combine(self.first_day(), time(), tz).astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"


def window(month: Month) -> tuple[Month, ...]:
    """The trend months, oldest first, ending with the report month."""
    return tuple(month.shift(k - TREND_MONTHS) for k in range(TREND_MONTHS + 1))


def boundaries(month: Month, tz: tzinfo) -> tuple[datetime, ...]:
    """UTC instants where each window month starts, and where the report month ends (len = months + 1)."""
    months = window(month)
    return tuple(m.start(tz) for m in months) + (month.shift(1).start(tz),)


@dataclass(frozen=True, slots=True)
class StationFact:
    id: int
    name: str
    city: str
    district: str
    town: str


@dataclass(frozen=True, slots=True)
class WorkerFact:
    id: int
    name: str
    station_id: int


@dataclass(frozen=True, slots=True)
class GroupFact:
    """The cases of one station with one responsible worker and one category list in the report month (as of
    its end, or of their close in it), counted per window month (0 = the oldest): active, served (at least
    one visit), home-visited (at least one 入户 visit). Cases active only in earlier months have worker None
    and no categories here, and count 0 in the report month."""

    station_id: int
    worker_id: int | None
    categories: tuple[str, ...]
    active: tuple[int, ...]
    served: tuple[int, ...]
    home: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DangerFact:
    """A visit of the report month with danger words or a high risk after it."""

    visit_id: int
    case_id: int
    case_name: str
    station_id: int
    visited_at: datetime
    danger: str
    risk_after: str
    followed_up: bool  # the case had a later visit, up to when the report was made


@dataclass(frozen=True, slots=True)
class NoteFact:
    """A (needs, services) pair of notes and how many of the report month's visits wrote exactly it."""

    needs: str
    services: str
    visits: int


@dataclass(frozen=True, slots=True)
class TicketFact:
    station_id: int
    created_at: datetime
    first_reply_at: datetime | None


@dataclass(frozen=True, slots=True)
class OverdueFact:
    station_id: int
    worker_id: int | None
    case_id: int
    case_name: str
    item: str
    due_date: date
    days_overdue: int


@dataclass(frozen=True, slots=True)
class ReportInput:
    area: Area
    month: Month
    tz: tzinfo
    generated_at: datetime
    stations: Sequence[StationFact]
    workers: Sequence[WorkerFact]
    groups: Sequence[GroupFact]
    visit_counts: dict[tuple[int, int, int], int]  # (station, worker, window month index) → visits
    notes: Sequence[NoteFact]  # the report month's
    danger: Sequence[DangerFact]  # the report month's
    tickets: Sequence[TicketFact]  # opened in the report month
    overdue: Sequence[OverdueFact]
    overdue_as_of: date
    categories: ServiceCategories


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class Tally:
    """Active, served and home-visited cases of one group, counted in one pass over the cases."""

    __slots__ = ("active", "home", "served")

    def __init__(self) -> None:
        self.active = self.served = self.home = 0

    def add(self, active: int, served: int, home: int) -> None:
        self.active += active
        self.served += served
        self.home += home

    def as_dict(self) -> dict[str, int | float | None]:
        return {"active_cases": self.active, "served": self.served, "served_rate": rate(self.served, self.active),
                "home_visited": self.home, "home_rate": rate(self.home, self.active)}


def monthly_report(data: ReportInput) -> dict[str, object]:
    """The report's one documented object (keys in README.md, "Monthly report")."""
    months = window(data.month)
    k = len(months) - 1
    station_names = {s.id: s.name for s in data.stations}

    by_month: Counter[int] = Counter()
    by_station: Counter[tuple[int, int]] = Counter()
    by_worker: Counter[tuple[int, int]] = Counter()
    for (station, worker, m), n in data.visit_counts.items():
        by_month[m] += n
        by_station[(station, m)] += n
        by_worker[(worker, m)] += n

    def visits_in(k_month: int, station: int | None = None, worker: int | None = None) -> int:
        if station is not None:
            return by_station[(station, k_month)]
        if worker is not None:
            return by_worker[(worker, k_month)]
        return by_month[k_month]

    total, trend_tallies = Tally(), [Tally() for _ in months]
    by_category: dict[str, Tally] = {}
    by_worker_tally: dict[int | None, Tally] = {}
    by_station_tally: dict[int, Tally] = {}
    for g in data.groups:
        for i in range(len(months)):
            if g.active[i]:
                trend_tallies[i].add(g.active[i], g.served[i], g.home[i])
        if not g.active[k]:
            continue
        counts = (g.active[k], g.served[k], g.home[k])
        total.add(*counts)
        for name in g.categories or ("未分类",):
            by_category.setdefault(name, Tally()).add(*counts)
        by_worker_tally.setdefault(g.worker_id, Tally()).add(*counts)
        by_station_tally.setdefault(g.station_id, Tally()).add(*counts)
    totals = {**total.as_dict(), "visits": visits_in(k)}
    categories = sorted(({"category": name, **t.as_dict()} for name, t in by_category.items()),
                        key=lambda c: (-int(c["active_cases"] or 0), str(c["category"])))

    overdue_by_worker = Counter(o.worker_id for o in data.overdue)
    overdue_by_station = Counter(o.station_id for o in data.overdue)
    workers = []
    for w in sorted(data.workers, key=lambda w: (station_names.get(w.station_id, ""), w.id)):
        coverage = by_worker_tally.get(w.id, Tally()).as_dict()
        workers.append({"worker_id": w.id, "name": w.name, "station": station_names.get(w.station_id, ""),
                        "cases": coverage["active_cases"], "served": coverage["served"],
                        "served_rate": coverage["served_rate"], "home_visited": coverage["home_visited"],
                        "visits": visits_in(k, worker=w.id), "overdue": overdue_by_worker.get(w.id, 0)})
    unassigned = by_worker_tally.get(None, Tally()).as_dict()
    if unassigned["active_cases"] or overdue_by_worker.get(None):
        workers.append({"worker_id": None, "name": UNASSIGNED, "station": "", "cases": unassigned["active_cases"],
                        "served": unassigned["served"], "served_rate": unassigned["served_rate"],
                        "home_visited": unassigned["home_visited"], "visits": 0,
                        "overdue": overdue_by_worker.get(None, 0)})

    events: list[dict[str, object]] = []
    danger_by_station: dict[int, list[dict[str, object]]] = {}
    for v in sorted(data.danger, key=lambda v: (v.visited_at, v.visit_id)):
        event: dict[str, object] = {
            "visit_id": v.visit_id, "case_id": v.case_id, "case_name": v.case_name,
            "station": station_names.get(v.station_id, ""),
            "date": v.visited_at.astimezone(data.tz).date().isoformat(), "danger": v.danger,
            "risk_after": v.risk_after, "followed_up": v.followed_up}
        events.append(event)
        danger_by_station.setdefault(v.station_id, []).append(event)

    stations = []
    for s in data.stations:
        coverage = by_station_tally.get(s.id, Tally()).as_dict()
        found = danger_by_station.get(s.id, [])
        stations.append({"station_id": s.id, "name": s.name, "city": s.city, "district": s.district,
                         "town": s.town, **coverage, "visits": visits_in(k, station=s.id),
                         "overdue": overdue_by_station.get(s.id, 0), "danger_events": len(found),
                         "danger_open": sum(1 for e in found if not e["followed_up"])})
    stations.sort(key=lambda s: (s["served_rate"] is None, -(s["served_rate"] or 0), s["name"]))  # type: ignore[operator]

    answered = [(t.first_reply_at - t.created_at).total_seconds() / 60 for t in data.tickets
                if t.first_reply_at is not None]
    needs: Counter[str] = Counter()
    services: Counter[str] = Counter()
    for note in data.notes:
        for name in data.categories.of(note.needs):
            needs[name] += note.visits
        for name in data.categories.of(note.services):
            services[name] += note.visits

    trend = [{"month": str(m), **trend_tallies[i].as_dict(), "visits": visits_in(i)} for i, m in enumerate(months)]

    worker_names = {w.id: w.name for w in data.workers}
    overdue_list = [{"case_id": o.case_id, "case_name": o.case_name, "station": station_names.get(o.station_id, ""),
                     "worker": worker_names.get(o.worker_id or 0, UNASSIGNED),
                     "item": o.item, "due_date": o.due_date.isoformat(), "days_overdue": o.days_overdue}
                    for o in heapq.nsmallest(OVERDUE_LIST, data.overdue,
                                             key=lambda o: (-o.days_overdue, o.case_name, o.item))]
    return {
        "area": {"level": data.area.level, "name": data.area.label, "stations": len(data.stations)},
        "month": str(data.month),
        "period": {"from": data.month.first_day().isoformat(), "to": data.month.last_day().isoformat(),
                   "timezone": str(data.tz)},
        "generated_at": data.generated_at.astimezone(data.tz).isoformat(timespec="seconds"),
        "totals": totals,
        "categories": categories,
        "workers": workers,
        "stations": stations,
        "overdue": {"as_of": data.overdue_as_of.isoformat(), "items": len(data.overdue), "list": overdue_list},
        "danger": {"events": len(events), "followed_up": sum(1 for e in events if e["followed_up"]),
                   "open": sum(1 for e in events if not e["followed_up"]), "list": events},
        "handoff": {"tickets": len(data.tickets), "answered": len(answered),
                    "median_first_response_minutes": round(statistics.median(answered), 1) if answered else None},
        "needs": {name: needs.get(name, 0) for name in data.categories.names},
        "services": {name: services.get(name, 0) for name in data.categories.names},
        "trend": trend,
    }
