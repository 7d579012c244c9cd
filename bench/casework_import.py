"""Case import benchmark: `shegong cases import` logic on a generated CSV, against the 60-second target.

    python bench/casework_import.py                     # 100,000 rows, seed 7, fresh embedded SQLite
    python bench/casework_import.py --rows 20000 --database-url postgresql+asyncpg://postgres@127.0.0.1/bench

Generates valid rows (GB 11643 check characters, real birth dates, one or two categories, 70 % with a
mobile number, 10 % with a landline, a responsible worker for half of them) into a UTF-8 CSV, then runs,
in this process, exactly what the command runs: `parse_case_file` (read and validate every row) and
`Store.import_cases` (hash, encrypt, bulk insert), each timed with time.perf_counter. A second import of
the same file is timed too; it must report every row unchanged. The database is new for each run (a
temporary data directory; for --database-url, an empty database that is migrated first). Always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from random import Random

from handlers.casework.store import CaseworkStore
from handlers.workers.store import WorkersStore

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings
from bot.crypto import generate_key, new_invite_code
from bot.store import CATEGORIES
from bot.store.connect import open_store
from handlers.casework.files import parse_case_file

TARGET_SECONDS = 60.0
HEADER = ["姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁谢宋郑冯邓曾彭"
GIVEN = "桂英秀兰志强伟华丽娟建国明芳玉梅金凤家豪嘉欣俊杰淑珍永健"
VILLAGES = [f"{n}村" for n in ("石牌", "龙口", "棠下", "车陂", "珠村", "吉山", "黄村", "沙河", "员村", "猎德")]
WORKERS = ["王芳", "陈军", "李敏", "黄伟"]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(serial: int) -> str:
    """A distinct valid number per serial: birth dates walk over 90 years in a coprime stride, and the
    3-digit order code counts the rounds, so (date, order) never repeats below 32 million serials."""
    days = 365 * 90
    born = date(1930, 1, 1) + timedelta(days=serial * 7919 % days)
    body = f"440106{born:%Y%m%d}{serial // days:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=False)) % 11]


def generate(path: Path, rows: int, seed: int) -> None:
    rng = Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            number = id_number(i)
            roll = rng.random()
            phone = (
                f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                if roll < 0.7
                else f"020-{rng.randrange(10**7, 10**8)}"
                if roll < 0.8
                else ""
            )
            categories = "、".join(rng.sample(CATEGORIES[:-1], rng.choice((1, 1, 2))))
            writer.writerow(
                [
                    rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2)),
                    categories,
                    rng.choice(VILLAGES),
                    f"{rng.choice(VILLAGES)}{rng.randrange(1, 300)}号",
                    phone,
                    number,
                    rng.choice("高中低低低"),
                    rng.choice(WORKERS) if rng.random() < 0.5 else "",
                ]
            )


async def run(rows: int, seed: int, database_url: str, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = keep or Path(tmp)
        csv_path = data / "cases.csv"
        t0 = time.perf_counter()
        generate(csv_path, rows, seed)
        print(f"generated {rows:,} rows ({csv_path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        settings = Settings(
            _env_file=None,
            data_dir=data / "data",
            database_url=database_url,
            secret_key=generate_key() if database_url else "",
        )
        store = await open_store(settings, migrate=True)
        try:
            station = await WorkersStore.of(store).add_station("基准测试社工站")
            for name in WORKERS:
                await WorkersStore.of(store).add_worker_with_invite(
                    station.id, name, "worker", store.secrets.invite_hash(new_invite_code()), store.clock.now()
                )
            names = [w.name for w, _ in await WorkersStore.of(store).list_workers(station.id)]
            for attempt in ("first import", "re-import"):
                t0 = time.perf_counter()
                parsed = parse_case_file(csv_path, names, date.today())
                t1 = time.perf_counter()
                assert not parsed.errors, parsed.errors[:5]
                counts = await CaseworkStore.of(store).import_cases(station.id, parsed.rows)
                t2 = time.perf_counter()
                total = t2 - t0
                print(
                    f"{attempt:>12}: validate {t1 - t0:6.2f} s + import {t2 - t1:6.2f} s = {total:6.2f} s "
                    f"({rows / total:,.0f} rows/s; target {TARGET_SECONDS:.0f} s: "
                    f"{'met' if total < TARGET_SECONDS else 'MISSED'}, {TARGET_SECONDS / total:.1f}x margin) {counts}"
                )
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="", help="an EMPTY database; default: a fresh embedded SQLite")
    parser.add_argument("--keep", type=Path, help="write the CSV and the database here instead of a temp dir")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.rows, args.seed, args.database_url, args.keep))


if __name__ == "__main__":
    main()
