"""Monthly report benchmark: `report monthly --city` over 50 stations × 1,000 cases × 12 months of visits
(about 600,000) on PostgreSQL, and the dashboard's overview page at that size.

    python bench/reports.py                       # 50 stations, 1,000 cases each, 12 months
    python bench/reports.py --stations 5 --json out.json

Needs a PostgreSQL server (``--postgres-url``, default ``SHEGONG_TEST_POSTGRES_URL`` or
postgresql+asyncpg://postgres@127.0.0.1:5432/test). A throwaway database is created, migrated with the
project's migrations, filled with COPY, and dropped at the end.

Data (deterministic from ``--seed``): stations of one city (东莞市), 10 workers each (one lead); cases with
township-roster categories, 3 % closed, each with its case history (one stretch, registration to close); for
each case and each of the 12 months before "now" (2026-12-02 09:00 Asia/Shanghai) a visit with probability
0.97 (入户 60 %, else 电话), with needs and services notes, 1 % with danger words; 300 handoff tickets per month
over the city.

Measured:
* ``city report``: ``build_report`` for the city and November 2026 (the call behind
  ``shegong report monthly --city 东莞市 --month 2026-11 --format json``, plus its JSON encoding): median of
  ``--rounds`` runs after a first run. November is a past month: overdue items are those at its end, from the
  case history and the visits made and recorded before it (no harvested marks).
* ``overview``: GET /dashboard/?month=2026-11 through the real aiohttp app on loopback, with a lead's session
  (one station, 1,000 cases) and a city supervisor's (first request, then the 30-second cache); median of
  ``--rounds`` requests after one warm-up.
Always exits 0: it reports, it does not test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import aiohttp
import asyncpg
from live_app import serve_services
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FrozenClock
from bot.config import Settings
from bot.store import create_engine, upgrade
from handlers.common.area import Area
from handlers.reminders import compute_due
from handlers.reports.categories import default_categories
from handlers.reports.monthly import Month, ReportInput, monthly_report
from handlers.reports.service import build_report, reminder_rules
from handlers.reports.store import report_facts, stations_in, viewer_by_id
from handlers.reports.web import new_link

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=TZ).astimezone(UTC)
MONTH = Month(2026, 11)
TARGET_REPORT_SECONDS = 3.0
# A fixed key (nothing secret is stored): a database kept with --keep can be measured again with --reuse.
BENCH_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"shegong bench").digest()).decode()
TARGET_OVERVIEW_MS = 300.0
CATEGORY_MIX = [
    (["低保"], 30),
    (["高龄老人"], 14),
    (["独居老人"], 10),
    (["特困分散供养"], 6),
    (["特困分散供养", "独居老人"], 4),
    (["残疾人"], 10),
    (["困境儿童"], 4),
    (["低保边缘"], 6),
    (["低保", "残疾人"], 3),
]
NEEDS = ["需要助餐", "想咨询低保续期", "腿脚不便，想要轮椅", "情绪低落，需要陪伴", "", "", "看病不方便"]
SERVICES = ["联系长者饭堂送餐", "讲解救助政策", "转介到镇卫生院", "谈心疏导", "", "陪诊"]


def pg_url() -> str:
    return os.environ.get("SHEGONG_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


async def fill(
    dsn: str,
    stations: int,
    cases_per_station: int,
    months: int,
    seed: int,
    args_visit_rate: float = 0.97,
    encrypt: Callable[[str], str] = str,
) -> dict[str, int]:
    """Visit notes go through `encrypt`, as the app stores them."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        start = NOW - timedelta(days=400)
        await conn.copy_records_to_table(
            "stations",
            columns=["id", "name", "district", "city", "town", "created_at"],
            records=[
                (s + 1, f"第{s + 1:02d}镇社工站", "", "东莞市", f"第{s + 1:02d}镇", start) for s in range(stations)
            ],
        )
        workers = stations * 10
        await conn.copy_records_to_table(
            "workers",
            columns=["id", "station_id", "name", "role", "scope", "created_at"],
            records=[
                (w + 1, w // 10 + 1, f"社工{w + 1:04d}", "lead" if w % 10 == 0 else "worker", "", start)
                for w in range(workers)
            ],
        )
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'cases' "
                "ORDER BY ordinal_position"
            )
        ]
        case_rows, assignment_rows, visit_rows, vid, visits = [], [], [], 0, 0
        for c in range(stations * cases_per_station):
            station = c // cases_per_station + 1
            worker = (station - 1) * 10 + 1 + c % 10
            closed = rng.random() < 0.03
            # drawn in this order so that the data stay those of the earlier runs
            categories = rng.choices([m for m, _ in CATEGORY_MIX], weights=[w for _, w in CATEGORY_MIX])[0]
            id_hash = uuid.UUID(int=rng.getrandbits(128)).hex
            closed_at = NOW - timedelta(days=rng.uniform(0, 300)) if closed else None
            values = {
                "id": c + 1,
                "station_id": station,
                "name": f"对象{c:06d}",
                "categories": json.dumps(categories, ensure_ascii=False),
                "village": f"第{c % 30 + 1}村",
                "address": "",
                "phone_enc": "",
                "id_number_enc": "",
                "id_hash": id_hash,
                "import_hash": "",
                "risk_level": "低",
                "worker_id": worker,
                "status": "closed" if closed else "open",
                "created_at": start,
                "updated_at": closed_at or start,
                "closed_at": closed_at,
                "closed_reason": "迁出" if closed else "",
            }
            case_rows.append(tuple(values[col] for col in columns))
            # the case history as the import and the close write it: one stretch, registration to close
            assignment_rows.append((c + 1, worker, values["categories"], start, closed_at))
            for m in range(months):
                if rng.random() < args_visit_rate:
                    vid += 1
                    at = NOW - timedelta(days=30 * m + rng.uniform(1, 30))
                    danger = "想不开" if rng.random() < 0.01 else ""
                    visit_rows.append(
                        (
                            vid,
                            c + 1,
                            worker,
                            at,
                            "入户" if rng.random() < 0.6 else "电话",
                            encrypt("身体尚可"),
                            encrypt(rng.choice(NEEDS)),
                            encrypt(rng.choice(SERVICES)),
                            "高" if danger else "低",
                            "低",
                            "",
                            danger,
                            f"bench:{vid}",
                            at,
                        )
                    )
            if len(visit_rows) >= 100_000:
                await conn.copy_records_to_table("cases", columns=columns, records=case_rows)
                await _copy_assignments(conn, assignment_rows)
                case_rows, assignment_rows = [], []
                await _copy_visits(conn, visit_rows)
                visits += len(visit_rows)
                visit_rows = []
        if case_rows:
            await conn.copy_records_to_table("cases", columns=columns, records=case_rows)
            await _copy_assignments(conn, assignment_rows)
        if visit_rows:
            await _copy_visits(conn, visit_rows)
            visits += len(visit_rows)
        tickets = []
        for t in range(300 * months):
            opened = NOW - timedelta(days=rng.uniform(1, 30 * months))
            first = opened + timedelta(minutes=rng.uniform(2, 240)) if rng.random() < 0.9 else None
            tickets.append(
                (t + 1, rng.randint(1, stations), "wechat", f"r{t}", "问", "closed", opened, opened, first, "worker")
            )
        await conn.copy_records_to_table(
            "tickets",
            columns=[
                "id",
                "station_id",
                "channel",
                "chat_id",
                "question",
                "status",
                "created_at",
                "last_activity_at",
                "first_reply_at",
                "closed_by",
            ],
            records=tickets,
        )
        for table in ("stations", "workers", "cases", "visits", "tickets"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE")
        return {
            "stations": stations,
            "workers": workers,
            "cases": stations * cases_per_station,
            "visits": visits,
            "tickets": len(tickets),
        }
    finally:
        await conn.close()


async def _copy_assignments(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table(
        "case_assignments", columns=["case_id", "worker_id", "categories", "started_at", "ended_at"], records=rows
    )


async def _copy_visits(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table(
        "visits",
        columns=[
            "id",
            "case_id",
            "worker_id",
            "visited_at",
            "mode",
            "findings",
            "needs",
            "services",
            "risk_after",
            "risk_before",
            "follow_up",
            "danger",
            "source_key",
            "created_at",
        ],
        records=rows,
    )


async def timed(run: Any, rounds: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    await run()
    first = time.perf_counter() - started
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return first, times


async def breakdown(store: Any, rounds: int) -> dict[str, float]:
    """Where the city report's time goes: the facts queries, the overdue items at the month's end (the reminders'
    due computation as things stood then), the Python pass. Each alone (build_report runs the first two at once)."""
    stations = await stations_in(store, Area("city", "东莞市"))
    ids = [s.id for s in stations]
    facts, due, compute = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        loaded = await report_facts(store, stations, MONTH, NOW)
        facts.append(time.perf_counter() - started)
        started = time.perf_counter()
        await compute_due(store, reminder_rules(), MONTH.last_day(), station_ids=ids, at=MONTH.shift(1).start(TZ))
        due.append(time.perf_counter() - started)
        started = time.perf_counter()
        monthly_report(
            ReportInput(
                Area("city", "东莞市"),
                MONTH,
                store.tz,
                NOW,
                stations,
                loaded.workers,
                loaded.groups,
                loaded.visit_counts,
                loaded.notes,
                loaded.danger,
                loaded.tickets,
                [],
                MONTH.last_day(),
                default_categories(),
            )
        )
        compute.append(time.perf_counter() - started)
    return {
        "facts_query": round(statistics.median(facts), 3),
        "overdue_at_month_end": round(statistics.median(due), 3),
        "python_pass": round(statistics.median(compute), 3),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    base = make_url(args.postgres_url)
    name = args.reuse or f"shegong_bench_{uuid.uuid4().hex[:8]}"
    if not args.reuse:
        await admin(base.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    load_before = os.getloadavg()[0]
    try:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        settings = Settings(
            _env_file=None, database_url=url, secret_key=BENCH_KEY, data_dir=Path("/tmp"), log_level="WARNING"
        )
        async with serve_services(settings, FrozenClock(NOW)) as (site, services):
            services.settings.public_url = site
            started = time.perf_counter()
            sizes: dict[str, int] = {"reused": 1}
            if not args.reuse:
                sizes = await fill(
                    make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                    args.stations,
                    args.cases,
                    args.months,
                    args.seed,
                    encrypt=services.store.secrets.encrypt,
                )
            fill_seconds = time.perf_counter() - started
            store = services.store

            async def city() -> None:
                json.dumps(await build_report(store, Area("city", "东莞市"), MONTH, NOW), ensure_ascii=False)

            cpu = time.process_time()
            first, times = await timed(city, args.rounds)
            cpu_per_run = (time.process_time() - cpu) / (args.rounds + 1)
            parts = await breakdown(store, args.rounds)
            report = await build_report(store, Area("city", "东莞市"), MONTH, NOW)

            async def page_times(worker_id: int, rounds: int) -> tuple[float, list[float]]:
                viewer = await viewer_by_id(store, worker_id)
                assert viewer is not None
                link = await new_link(services, viewer)
                # unsafe: accept cookies from an IP address host (the loopback server)
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                    async with http.get(link) as r:
                        assert r.status == 200, r.status

                    async def get() -> None:
                        async with http.get(f"{site}/dashboard/?month={MONTH}") as r:
                            assert r.status == 200, r.status
                            await r.read()

                    return await timed(get, rounds)

            lead_first, lead_times = await page_times(1, args.rounds)  # worker 1 leads station 1
            async with store.session.begin() as s:
                await s.execute(
                    text(
                        "INSERT INTO workers (station_id, name, role, scope, created_at) "
                        "VALUES (NULL, '陈主任', 'supervisor', 'city:东莞市', now())"
                    )
                )
                supervisor = (await s.execute(text("SELECT max(id) FROM workers"))).scalar_one()
            city_first, city_times = await page_times(supervisor, args.rounds)
    finally:
        if args.keep or args.reuse:
            print(f"database kept: {name} (--reuse {name})", file=sys.stderr)
        else:
            await admin(base.render_as_string(hide_password=False), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "data": sizes,
        "fill_seconds": round(fill_seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "city_report": {
            "seconds_median": round(statistics.median(times), 3),
            "first_run_seconds": round(first, 3),
            "python_cpu_seconds_per_run": round(cpu_per_run, 3),
            "target_seconds": TARGET_REPORT_SECONDS,
            "active_cases": report["totals"]["active_cases"],  # type: ignore[index]
            "served_rate": report["totals"]["served_rate"],
            "overdue": report["overdue"]["items"],
        },  # type: ignore[index]
        "city_report_parts_seconds": parts,
        "overview_lead_ms": {
            "median": round(statistics.median(lead_times) * 1000, 1),
            "first": round(lead_first * 1000, 1),
            "target": TARGET_OVERVIEW_MS,
        },
        "overview_city_supervisor_ms": {
            "first_uncached": round(city_first * 1000, 1),
            "median_cached": round(statistics.median(city_times) * 1000, 1),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=pg_url())
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--cases", type=int, default=1000, help="cases per station")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", action="store_true", help="keep the filled database (prints its name)")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure on a database kept by --keep (no fill)")
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
