"""Reminder benchmark: the due list for 1,000,000 cases on PostgreSQL, and 10,000 digests through the outbox
to a fake Telegram Bot API that enforces a rate limit.

    python bench/reminders.py                                   # 1,000,000 cases, 10,000 workers, seed 7
    python bench/reminders.py --cases 100000 --workers 2000 --rate-limit 1000 --json out.json
    python bench/reminders.py --skip-dispatch                   # the due list only

Needs a PostgreSQL server (``--postgres-url``, default ``SHEGONG_TEST_POSTGRES_URL`` or
postgresql+asyncpg://postgres@127.0.0.1:5432/test). A throwaway database is created, migrated with the
project's migrations, filled with COPY, and dropped at the end.

Data (deterministic from ``--seed``): ``--workers`` workers in stations of 10 (one lead each), every worker
bound to a Telegram identity; ``--cases`` cases spread evenly over the workers (100 each by default), with
categories drawn like a township roster (低保 most, then 高龄/独居/特困, children, some with two categories),
85 % from the roster imported two years ago and the rest registered since, 3 % closed; visits of a station that
mostly keeps up (see
``history``: per recurring item of the case, its last matching visit up to 1.05 intervals ago, for 5 % of
items a backlog of up to three intervals; plus unrelated phone calls). "Today" is a working Monday, 2026-03-02,
09:00 Asia/Shanghai.

Measured:
* ``due``: ``compute_due`` (the same call as ``shegong reminders due``) over all stations: the harvest of
  new visits into ``reminder_marks``, the one query over cases, marks, recent visits and completions, the
  Python pass over the rows it returns, and the result list. Median of ``--rounds`` runs after a first run
  that also harvests every visit once (reported separately: it happens once per database, and again only
  for a reset condition new to the rules).
* ``baseline`` (named: "case scan"): one plain read of every open case's row fields (id, station, worker,
  name, village, categories, registration), straight through asyncpg, timed in the same rounds as ``due``,
  interleaved. The due list must at least read that much; ``due / case scan`` is the number to compare across
  machines and loads (absolute times on a shared machine are not).
* ``dispatch``: one ``ReminderDispatcher.run`` (digests and escalations queued in the outbox), then the
  real ``OutboxSender`` with the real ``TelegramChannel`` (python-telegram-bot over HTTP) delivering to
  ``tests/fakes/telegram_api.FakeTelegram``, which here also rejects with 429 any sendMessage beyond
  ``--rate-limit`` in a sliding second. The sender paces itself at 25/s for Telegram (its limit is about
  30/s); ``--rate-limit`` above 30 raises the channel's pace to 80 % of the limit to measure capacity.
Always exits 0: it reports, it does not test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FrozenClock
from bot.crypto import Secrets
from bot.store import Store, create_engine, upgrade
from handlers.reminders import compute_due, load_rulebook

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # a working Monday
TARGET_DUE_SECONDS = 5.0
CATEGORY_MIX = [  # (categories, weight): a township roster
    (["低保"], 30),
    (["低保", "低保收入不固定"], 8),
    (["高龄老人"], 14),
    (["独居老人"], 10),
    (["特困分散供养"], 6),
    (["特困分散供养", "独居老人"], 4),
    (["特困集中供养"], 2),
    (["残疾人"], 10),
    (["困境儿童"], 4),
    (["事实无人抚养儿童"], 2),
    (["低保边缘"], 6),
    (["孤儿"], 1),
    (["低保", "残疾人"], 3),
]
FINDINGS = [
    "身体状况稳定，精神尚可",
    "腿脚不便，需要助餐服务",
    "家中卫生一般，已提醒家属",
    "近期血压偏高，已提醒就医",
    "孩子上学正常，监护人在家",
    "独居，邻里偶尔照看",
    "老人反映药费负担重，已告知医疗救助政策",
]


def pg_url() -> str:
    return os.environ.get("SHEGONG_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def raw_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def weighted(rng: random.Random, choices: list[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


async def fill(dsn: str, cases: int, workers: int, seed: int, secrets: Secrets) -> dict[str, int]:
    """Stations, workers with Telegram identities, cases and visits, by COPY (minutes by ORM, seconds so).
    Visit notes are encrypted with `secrets`, as the app stores them."""
    rng = random.Random(seed)
    now = NOW.astimezone(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        stations = max(1, workers // 10)
        await conn.copy_records_to_table(
            "stations",
            columns=["id", "name", "district", "city", "created_at"],
            records=[(s + 1, f"第{s + 1:04d}镇社工站", "", "", now) for s in range(stations)],
        )
        await conn.copy_records_to_table(
            "workers",
            columns=["id", "station_id", "name", "role", "created_at"],
            records=[
                (w + 1, w // 10 + 1, f"社工{w + 1:05d}", "lead" if w % 10 == 0 else "worker", now)
                for w in range(workers)
            ],
        )
        seen = now - timedelta(hours=1)
        await conn.copy_records_to_table(
            "users",
            columns=["id", "channel", "platform_user_id", "display_name", "city", "created_at", "last_seen_at"],
            records=[(w + 1, "telegram", str(700000 + w), "", "", now, seen) for w in range(workers)],
        )
        await conn.copy_records_to_table(
            "worker_identities",
            columns=["user_id", "worker_id", "bound_at"],
            records=[(w + 1, w + 1, now) for w in range(workers)],
        )
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'cases' "
                "ORDER BY ordinal_position"
            )
        ]
        visits_written = 0
        case_rows: list[tuple[Any, ...]] = []
        visit_rows: list[tuple[Any, ...]] = []
        vid = 0
        rules = load_rulebook().default
        roster = now - timedelta(days=730)
        for c in range(cases):
            worker = c % workers + 1
            # The roster imported two years ago, then new registrations since.
            created = roster if rng.random() < 0.85 else now - timedelta(days=rng.uniform(0, 730))
            categories = weighted(rng, CATEGORY_MIX)
            values = {
                "id": c + 1,
                "station_id": (worker - 1) // 10 + 1,
                "name": f"对象{c:07d}",
                "categories": json.dumps(categories, ensure_ascii=False),
                "village": f"第{c % 30 + 1}村",
                "address": "",
                "phone_enc": "",
                "id_number_enc": "",
                "id_hash": uuid.UUID(int=rng.getrandbits(128)).hex + "0" * 32,
                "import_hash": "",
                "risk_level": "低",
                "worker_id": worker,
                "status": "closed" if rng.random() < 0.03 else "open",
                "created_at": created,
                "updated_at": created,
                "closed_at": None,
                "closed_reason": "",
            }
            case_rows.append(tuple(values[col] for col in columns))
            for at, mode, findings in history(rng, rules.items_for(categories), created, now):
                vid += 1
                # created_at grows with the id, as when workers report visits one after another.
                visit_rows.append(
                    (
                        vid,
                        c + 1,
                        worker,
                        at,
                        mode,
                        secrets.encrypt(findings),
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        f"bench:{vid}",
                        now - timedelta(days=1) + timedelta(microseconds=vid),
                    )
                )
            if len(visit_rows) >= 100_000:  # cases first: visits refer to them
                await conn.copy_records_to_table("cases", columns=columns, records=case_rows)
                case_rows = []
                await _copy_visits(conn, visit_rows)
                visits_written += len(visit_rows)
                visit_rows = []
        if case_rows:
            await conn.copy_records_to_table("cases", columns=columns, records=case_rows)
        if visit_rows:
            await _copy_visits(conn, visit_rows)
            visits_written += len(visit_rows)
        for table in ("stations", "workers", "users", "cases", "visits"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE")
        return {"stations": stations, "workers": workers, "cases": cases, "visits": visits_written}
    finally:
        await conn.close()


def history(rng: random.Random, items: Any, created: datetime, now: datetime) -> list[tuple[datetime, str, str]]:
    """Visits of a station that mostly keeps up: per recurring item, the last matching visit a random time
    within 1.05 intervals ago (so some are due or just overdue), for 5 % of items a backlog of up to three
    intervals; the first 需求评估 within 16 days of registration for 95 % of cases; plus one or two unrelated
    phone calls. Nothing in the last day (that day's visits are not harvested yet: see HARVEST_LAG)."""
    found: list[tuple[datetime, str, str]] = []
    for item in items:
        if item.every is None:
            at = created + timedelta(days=rng.uniform(0, 16))
            if rng.random() < 0.95 and at < now - timedelta(days=1):
                found.append((at, "入户", f"{item.reset_by.keywords[0]}：{rng.choice(FINDINGS)}"))
            continue
        span = item.every.approx_days
        age = rng.uniform(0, 1.05 * span) if rng.random() < 0.95 else rng.uniform(span, 3 * span)
        at = max(created, now - timedelta(days=max(age, 1)))
        spec = item.reset_by
        mode = spec.modes[0] if spec.modes else rng.choice(["入户", "电话"])
        text = f"{rng.choice(FINDINGS)}；{spec.keywords[0]}已完成" if spec.keywords else rng.choice(FINDINGS)
        found.append((at, mode, text))
    for _ in range(rng.choice([0, 1, 1, 2])):
        found.append((max(created, now - timedelta(days=rng.uniform(1, 200))), "电话", rng.choice(FINDINGS)))
    return found


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


BASELINE = (
    "SELECT id, station_id, worker_id, name, village, categories::text, created_at FROM cases WHERE status = 'open'"
)


async def case_scan(store: Store) -> float:
    """The named baseline: every open case's row fields, read once through asyncpg."""
    async with store.session() as s:
        raw = (await (await s.connection()).get_raw_connection()).driver_connection
        started = time.perf_counter()
        await raw.fetch(BASELINE)  # type: ignore[union-attr]
        return time.perf_counter() - started


async def bench_due(store: Store, rounds: int) -> dict[str, Any]:
    rules = load_rulebook()
    today = NOW.date()
    started = time.perf_counter()
    await compute_due(store, rules, today)  # the first run also harvests every visit into reminder_marks
    first = time.perf_counter() - started
    await case_scan(store)  # warm, like the due list after its first run
    times: list[float] = []
    cpu: list[float] = []
    scans: list[float] = []
    found: list[Any] = []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        found = await compute_due(store, rules, today)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        scans.append(await case_scan(store))
    by_status = {s: sum(1 for d in found if d.status == s) for s in ("overdue", "today", "upcoming")}
    return {
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "process_cpu_seconds_median": statistics.median(cpu),
        "baseline_case_scan_seconds_median": statistics.median(scans),
        "ratio_to_case_scan": statistics.median(times) / statistics.median(scans),
        "first_run_seconds": first,
        "items": len(found),
        **by_status,
        "workers_with_items": len({d.worker_id for d in found}),
        "target_seconds": TARGET_DUE_SECONDS,
        "pass": statistics.median(times) < TARGET_DUE_SECONDS,
    }


class LimitedTelegram:
    """FakeTelegram that answers 429 (with retry_after) to any sendMessage beyond `limit` in a sliding second."""

    def __init__(self, limit: float) -> None:
        from fakes.telegram_api import ApiError, FakeTelegram

        self.fake = FakeTelegram()
        self.limit = limit
        self.recent: deque[float] = deque()
        self.rejected = 0
        original = FakeTelegram.sendMessage

        async def send_message(fake: FakeTelegram, params: dict[str, Any]) -> dict[str, Any]:
            now = time.monotonic()
            while self.recent and now - self.recent[0] > 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.limit:
                self.rejected += 1
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self.recent.append(now)
            return await original(fake, params)

        from fakes import telegram_api

        send_message.__name__ = "sendMessage"  # what the fake records the call as
        telegram_api.METHODS["sendmessage"] = send_message


async def bench_dispatch(store: Store, url: str, rate_limit: float) -> dict[str, Any]:
    from bot.channels import telegram
    from bot.config import Settings
    from bot.outbox import OutboxSender
    from bot.services import Services
    from handlers.reminders.dispatch import ReminderDispatcher

    platform_fake = LimitedTelegram(rate_limit)
    await platform_fake.fake.start()
    settings = Settings(
        database_url=url, telegram_token=platform_fake.fake.token, telegram_api_base=platform_fake.fake.api_base
    )
    services = Services(settings, store, None, store.clock)  # type: ignore[arg-type] - no knowledge base needed
    channel = telegram.create(services)
    assert channel is not None
    channel.rate_per_second = 25.0 if rate_limit <= 30 else rate_limit * 0.8
    try:
        started = time.perf_counter()
        report = await ReminderDispatcher(store, load_rulebook(), ["telegram"]).run(NOW)
        queued_s = time.perf_counter() - started
        sender = OutboxSender(store, {"telegram": channel})
        started = time.perf_counter()
        first_sent = None
        while "pending" in (counts := await store.outbox_counts()):
            await sender.run_once()
            if first_sent is None:
                first_sent = time.perf_counter()
            if "pending" in (await store.outbox_counts()):
                await asyncio.sleep(0.2)  # retry_after of a 429 (should not happen)
                store.clock.advance(seconds=2)  # type: ignore[attr-defined]
        send_s = time.perf_counter() - started
        delivered = len(platform_fake.fake.sent("sendMessage"))
        return {
            "digests_queued": report.queued,
            "escalation_notices": report.escalated,
            "queue_seconds": queued_s,
            "send_seconds": send_s,
            "delivered": delivered,
            "outbox": counts,
            "achieved_per_second": delivered / send_s if send_s else 0.0,
            "rate_limit": rate_limit,
            "sender_pace": channel.rate_per_second,
            "rejected_429": platform_fake.rejected,
        }
    finally:
        await channel.close()
        await platform_fake.fake.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    name = f"shegong_bench_{uuid.uuid4().hex[:8]}"
    base = make_url(args.postgres_url)
    url = base.set(database=name).render_as_string(hide_password=False)
    await admin(args.postgres_url, f'CREATE DATABASE "{name}"')
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "cases": args.cases,
        "workers": args.workers,
        "seed": args.seed,
    }
    try:
        engine = create_engine(url)
        await upgrade(engine)
        started = time.perf_counter()
        secrets = Secrets.ephemeral()
        result["data"] = await fill(raw_dsn(url), args.cases, args.workers, args.seed, secrets)
        result["data"]["fill_seconds"] = time.perf_counter() - started
        print(f"data: {result['data']}", file=sys.stderr)
        async with engine.connect() as conn:
            result["machine"]["postgresql"] = (await conn.execute(text("SHOW server_version"))).scalar()
        store = Store(engine, FrozenClock(NOW.astimezone(UTC)), secrets)
        result["due"] = await bench_due(store, args.rounds)
        print(f"due: {result['due']}", file=sys.stderr)
        if not args.skip_dispatch:
            result["dispatch"] = await bench_dispatch(store, url, args.rate_limit)
            print(f"dispatch: {result['dispatch']}", file=sys.stderr)
        await store.close()
    finally:
        await admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def report(result: dict[str, Any]) -> str:
    due = result["due"]
    lines = [
        f"due list: {result['cases']:,} cases, {result['data']['visits']:,} visits → {due['items']:,} items "
        f"({due['overdue']:,} overdue, {due['today']:,} today, {due['upcoming']:,} upcoming) for "
        f"{due['workers_with_items']:,} workers in {due['seconds_median']:.2f} s median "
        f"(target < {TARGET_DUE_SECONDS:.0f} s: {'ok' if due['pass'] else 'MISSED'}); runs "
        + ", ".join(f"{t:.2f}" for t in due["seconds_all"])
        + (
            f"; first run, harvesting every visit once: {due['first_run_seconds']:.1f} s"
            if "first_run_seconds" in due
            else ""
        )
    ]
    if "ratio_to_case_scan" in due:
        lines.append(
            f"baseline (case scan: every open case's row fields): {due['baseline_case_scan_seconds_median']:.2f} s "
            f"median; due list / case scan = {due['ratio_to_case_scan']:.2f}; process CPU of the due list "
            f"{due['process_cpu_seconds_median']:.2f} s median"
        )
    if "dispatch" in result:
        d = result["dispatch"]
        lines.append(
            f"dispatch: {d['digests_queued']:,} digests + {d['escalation_notices']:,} escalation notices "
            f"queued in {d['queue_seconds']:.1f} s; {d['delivered']:,} sendMessage delivered in "
            f"{d['send_seconds']:.1f} s = {d['achieved_per_second']:.1f} msgs/s (platform limit "
            f"{d['rate_limit']:.0f}/s, sender pace {d['sender_pace']:.0f}/s, 429 answers: {d['rejected_429']})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=pg_url())
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-limit", type=float, default=30.0, help="fake Telegram's sendMessage limit per second")
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    out = asyncio.run(main(args))
    print(report(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=2, default=str))
