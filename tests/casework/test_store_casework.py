"""Casework storage: stations, invites and binding, cases, visits, statistics, export, audit — on every database."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot.clock import FrozenClock
from bot.crypto import new_invite_code
from bot.store import CaseRow, Store, VisitDraft, WorkerRecord
from handlers.casework.store import CaseworkStore
from handlers.workers.store import WorkersStore

ID_A = "440106199001011235"  # valid GB 11643 check digits
ID_B = "44010619520315018X"
ID_C = "440106194805200012"


def row(name: str, id_number: str, worker: str = "", **changes: object) -> CaseRow:
    base = CaseRow(
        name=name,
        categories=("低保", "独居老人"),
        village="石牌村",
        address="石牌东路1号",
        phone="13812345678",
        id_number=id_number,
        risk_level="低",
        worker_name=worker,
    )
    return replace(base, **changes)


async def invite(
    store: Store, station_id: int, name: str, role: str = "worker", days: int = 7
) -> tuple[WorkerRecord, str]:
    code = new_invite_code()
    worker = await WorkersStore.of(store).add_worker_with_invite(
        station_id, name, role, store.secrets.invite_hash(code), store.clock.now() + timedelta(days=days)
    )
    return worker, code


async def bound_worker(
    store: Store, station_id: int, name: str, channel: str, uid: str, role: str = "worker"
) -> WorkerRecord:
    _, code = await invite(store, station_id, name, role)
    user = await store.user_for(channel, uid)
    result = await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code), user.id)
    assert isinstance(result, WorkerRecord)
    return result


@pytest.fixture
async def station(store: Store):
    return await WorkersStore.of(store).add_station("石牌街社工站", county="天河区", city="广州市")


# -- stations ---------------------------------------------------------------------------------
async def test_station_add_lookup_and_duplicate(store: Store) -> None:
    st = await WorkersStore.of(store).add_station(" 石牌街社工站 ", county="天河区", city="广州市")
    assert (st.name, st.county, st.city) == ("石牌街社工站", "天河区", "广州市")
    with pytest.raises(ValueError, match="社工站已存在：石牌街社工站"):
        await WorkersStore.of(store).add_station("石牌街社工站")
    assert await WorkersStore.of(store).station_by_name("石牌街社工站") == st
    assert await WorkersStore.of(store).station_by_name("不存在") is None
    other = await WorkersStore.of(store).add_station("冼村街社工站")
    assert [s.name for s in await WorkersStore.of(store).list_stations()] == sorted([st.name, other.name])


# -- invites and binding ----------------------------------------------------------------------
async def test_invite_binds_once_and_reuse_is_refused(store: Store, station) -> None:
    worker, code = await invite(store, station.id, "李敏", "lead")
    assert worker == WorkerRecord(worker.id, "李敏", "lead", station.id, "石牌街社工站")
    phone = await store.user_for("wecom", "limin")
    bound = await WorkersStore.of(store).redeem_invite(
        store.secrets.invite_hash(code.lower()), phone.id
    )  # case does not matter
    assert bound == worker
    assert await store.worker_for_user(phone.id) == worker
    other = await store.user_for("telegram", "999")
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code), other.id) == "used"
    assert await store.worker_for_user(other.id) is None
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash("ZZZZZZZZ"), other.id) == "unknown"


async def test_invite_expires_after_seven_days(store: Store, station, clock: FrozenClock) -> None:
    _, early = await invite(store, station.id, "王芳")
    _, late = await invite(store, station.id, "陈军")
    user = await store.user_for("console", "u1")
    clock.advance(days=6, hours=23)
    assert isinstance(
        await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(early), user.id), WorkerRecord
    )
    clock.advance(hours=1)
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(late), user.id) == "expired"
    assert (await store.worker_for_user(user.id)).name == "王芳"


async def test_new_invite_replaces_old_code_and_keeps_worker(store: Store, station) -> None:
    first, old_code = await invite(store, station.id, "李敏", "lead")
    again, new_code = await invite(store, station.id, "李敏", "")  # "" keeps the role
    assert again == first
    user = await store.user_for("telegram", "1")
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(old_code), user.id) == "expired"
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(new_code), user.id) == first
    demoted, _ = await invite(store, station.id, "李敏", "worker")
    assert demoted.role == "worker" and demoted.id == first.id


async def test_rebind_moves_identity_to_new_worker(store: Store, station) -> None:
    user = await store.user_for("wecom", "shared-phone")
    a, code_a = await invite(store, station.id, "甲")
    b, code_b = await invite(store, station.id, "乙")
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code_a), user.id) == a
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code_b), user.id) == b
    assert await store.worker_for_user(user.id) == b
    listed = {w.name: channels for w, channels in await WorkersStore.of(store).list_workers(station.id)}
    assert listed == {"甲": [], "乙": ["wecom"]}


async def test_same_code_raced_binds_exactly_one(store: Store, station) -> None:
    _, code = await invite(store, station.id, "李敏")
    users = [await store.user_for("telegram", str(i)) for i in range(6)]
    results = await asyncio.gather(
        *(WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code), u.id) for u in users)
    )
    assert sum(isinstance(r, WorkerRecord) for r in results) == 1
    assert sorted(r for r in results if isinstance(r, str)) == ["used"] * 5


async def test_workers_list_and_leads_with_identities(store: Store, station) -> None:
    other = await WorkersStore.of(store).add_station("冼村街社工站")
    lead = await bound_worker(store, station.id, "李敏", "wecom", "limin", role="lead")
    user = await store.user_for("telegram", "777")
    _, code = await invite(store, station.id, "李敏")  # a second channel for the same person
    assert await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code), user.id) == replace(
        lead, role="worker"
    )
    await invite(store, station.id, "李敏", "lead")
    await bound_worker(store, station.id, "王芳", "console", "wf")
    await invite(store, other.id, "赵强", "lead")
    everyone = await WorkersStore.of(store).list_workers()
    assert [(w.station_name, w.name, ch) for w, ch in everyone] == [
        ("冼村街社工站", "赵强", []),
        ("石牌街社工站", "李敏", ["telegram", "wecom"]),
        ("石牌街社工站", "王芳", ["console"]),
    ]
    leads = await WorkersStore.of(store).station_leads(station.id)
    assert [(w.name, sorted(ids)) for w, ids in leads] == [("李敏", [("telegram", "777"), ("wecom", "limin")])]
    assert [(w.name, ids) for w, ids in await WorkersStore.of(store).station_leads(other.id)] == [("赵强", [])]
    await bound_worker(store, other.id, "周洁", "wecom", "zhoujie", role="admin")  # admins are in charge too
    assert [(w.name, w.role, ids) for w, ids in await WorkersStore.of(store).station_leads(other.id)] == [
        ("赵强", "lead", []),
        ("周洁", "admin", [("wecom", "zhoujie")]),
    ]


# -- cases ------------------------------------------------------------------------------------
async def test_cases_found_by_exact_then_fuzzy_name_within_station_and_worker(store: Store, station) -> None:
    me = await bound_worker(store, station.id, "王芳", "console", "wf")
    colleague = await bound_worker(store, station.id, "陈军", "console", "cj")
    await CaseworkStore.of(store).import_cases(
        station.id, [row("张桂英", ID_A, "王芳"), row("张贵英", ID_B, "陈军"), row("李桂英", ID_C, "王芳")]
    )
    other = await WorkersStore.of(store).add_station("冼村街社工站")
    await CaseworkStore.of(store).import_cases(other.id, [row("张桂英", ID_A)])

    exact = await CaseworkStore.of(store).find_cases(station.id, "张桂英")
    assert [(c.name, c.station_id) for c in exact] == [("张桂英", station.id)]
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "张贵英")] == ["张贵英"]
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "张桂莹")] == [
        "张桂英"
    ]  # one char off
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "张归英")] == ["张桂英", "张贵英"]
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "张英")] == ["张桂英", "张贵英"]
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "桂英")] == ["张桂英", "李桂英"]
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "桂英", worker_id=me.id)] == [
        "张桂英",
        "李桂英",
    ]
    assert [c.name for c in await CaseworkStore.of(store).find_cases(station.id, "张贵英", worker_id=me.id)] == [
        "张桂英"
    ]
    assert await CaseworkStore.of(store).find_cases(station.id, "欧阳") == []
    assert await CaseworkStore.of(store).find_cases(station.id, "  ") == []
    assert [c.name for c in await CaseworkStore.of(store).cases_of_worker(colleague.id)] == ["张贵英"]

    case = exact[0]
    assert case.categories == ("低保", "独居老人") and case.worker_name == "王芳" and case.status == "open"
    assert (case.id_masked, case.phone_masked) == ("4401**********1235", "138****5678")
    assert await CaseworkStore.of(store).case_by_id(case.id, station.id) == case
    assert await CaseworkStore.of(store).case_by_id(case.id, other.id) is None


async def test_import_adds_updates_and_leaves_unchanged(store: Store, station, clock: FrozenClock) -> None:
    await bound_worker(store, station.id, "王芳", "console", "wf")
    rows = [row("张桂英", ID_A, "王芳"), row("李伯", ID_B, phone="", risk_level="高")]
    assert await CaseworkStore.of(store).import_cases(station.id, rows) == {"added": 2, "updated": 0, "unchanged": 0}
    stamps = await _updated_at(store)
    clock.advance(hours=1)
    assert await CaseworkStore.of(store).import_cases(station.id, rows) == {"added": 0, "updated": 0, "unchanged": 2}
    assert await _updated_at(store) == stamps
    changed = [rows[0], replace(rows[1], address="新地址"), row("陈婆", ID_C)]
    assert await CaseworkStore.of(store).import_cases(station.id, changed) == {"added": 1, "updated": 1, "unchanged": 1}
    after = await _updated_at(store)
    first, second = sorted(stamps)
    assert after[first] == stamps[first] and after[second] != stamps[second]  # only the changed row moved
    case = (await CaseworkStore.of(store).find_cases(station.id, "李伯"))[0]
    assert (case.address, case.phone_masked, case.risk_level, case.worker_id) == ("新地址", "", "高", None)


async def test_import_dry_run_counts_the_same_and_writes_nothing(store: Store, station) -> None:
    rows = [row("张桂英", ID_A), row("李伯", ID_B)]
    assert await CaseworkStore.of(store).import_cases(station.id, rows, dry_run=True) == {
        "added": 2,
        "updated": 0,
        "unchanged": 0,
    }
    assert await _count(store, "cases") == 0
    assert await CaseworkStore.of(store).import_cases(station.id, rows) == {"added": 2, "updated": 0, "unchanged": 0}
    changed = [rows[0], replace(rows[1], village="龙口村"), row("陈婆", ID_C)]
    assert await CaseworkStore.of(store).import_cases(station.id, changed, dry_run=True) == {
        "added": 1,
        "updated": 1,
        "unchanged": 1,
    }
    assert await _count(store, "cases") == 2
    assert (await CaseworkStore.of(store).find_cases(station.id, "李伯"))[0].village == "石牌村"


async def test_a_blank_roster_risk_is_kept_as_unassessed_through_a_visit_and_its_undo(
    store: Store, station, clock: FrozenClock
) -> None:
    worker = await bound_worker(store, station.id, "王芳", "console", "wf")
    await CaseworkStore.of(store).import_cases(station.id, [row("张桂英", ID_A, "王芳", risk_level="未评估")])
    case = (await CaseworkStore.of(store).find_cases(station.id, "张桂英"))[0]
    assert case.risk_level == "未评估"
    visit, _ = await CaseworkStore.of(store).save_visit(
        worker.id, VisitDraft(case.id, clock.now(), "入户", risk_after="高"), "k1"
    )
    assert (await CaseworkStore.of(store).case_by_id(case.id, station.id)).risk_level == "高"
    assert await CaseworkStore.of(store).delete_visit(visit.id, worker.id) is True
    assert (await CaseworkStore.of(store).case_by_id(case.id, station.id)).risk_level == "未评估"
    with pytest.raises(ValueError, match="未知风险等级：很高"):
        await CaseworkStore.of(store).import_cases(station.id, [row("李伯", ID_B, risk_level="很高")])


async def test_import_all_or_nothing_on_unknown_worker_or_duplicate(store: Store, station) -> None:
    with pytest.raises(ValueError, match="负责社工不是本站的社工：路人"):
        await CaseworkStore.of(store).import_cases(station.id, [row("张桂英", ID_A), row("李伯", ID_B, "路人")])
    with pytest.raises(ValueError, match="身份证号重复"):
        await CaseworkStore.of(store).import_cases(station.id, [row("张桂英", ID_A), row("张桂英", ID_A.lower())])
    with pytest.raises(ValueError, match="社工站不存在"):
        await CaseworkStore.of(store).import_cases(station.id + 99, [row("张桂英", ID_A)])
    assert await _count(store, "cases") == 0


async def test_numbers_are_encrypted_at_rest(store: Store, station) -> None:
    await CaseworkStore.of(store).import_cases(station.id, [row("张桂英", ID_A, phone="020-12345678")])
    async with store.engine.connect() as conn:
        raw = " ".join(str(v) for r in (await conn.execute(text("SELECT * FROM cases"))).all() for v in r)
    for secret in (ID_A, "12345678", "0106199001", "440106"):
        assert secret not in raw
    case = (await CaseworkStore.of(store).find_cases(station.id, "张桂英"))[0]
    assert case.phone_masked == "020*****5678"


# -- visits -----------------------------------------------------------------------------------
async def _setup_visits(store: Store, station):
    worker = await bound_worker(store, station.id, "王芳", "console", "wf")
    await CaseworkStore.of(store).import_cases(station.id, [row("张桂英", ID_A, "王芳"), row("李伯", ID_B, "王芳")])
    cases = {c.name: c for c in await CaseworkStore.of(store).cases_of_worker(worker.id)}
    return worker, cases


async def test_save_visit_is_idempotent_and_queues_notices(store: Store, station, clock: FrozenClock) -> None:
    worker, cases = await _setup_visits(store, station)
    lead = await bound_worker(store, station.id, "李敏", "wecom", "limin", role="lead")
    draft = VisitDraft(
        case_id=cases["张桂英"].id,
        visited_at=clock.now() - timedelta(hours=2),
        mode="入户",
        findings="腿脚不便",
        needs="助餐",
        risk_after="高",
        follow_up="下周电话回访",
        danger="摔倒",
    )
    notice = [("wecom", "limin", {"text": "高风险提醒"})]
    visit, created = await CaseworkStore.of(store).save_visit(worker.id, draft, "console:wf:1", notice)
    assert created
    assert (visit.case_name, visit.worker_name, visit.mode, visit.needs, visit.danger, visit.attachments) == (
        "张桂英",
        "王芳",
        "入户",
        "助餐",
        "摔倒",
        0,
    )
    assert visit.visited_at == clock.now() - timedelta(hours=2) and visit.created_at == clock.now()
    again, created = await CaseworkStore.of(store).save_visit(
        worker.id, replace(draft, needs="别的"), "console:wf:1", notice
    )
    assert (again, created) == (visit, False)
    assert (await CaseworkStore.of(store).case_by_id(draft.case_id, station.id)).risk_level == "高"
    assert await _count(store, "visits") == 1
    assert (await store.claim_outbox(10, timedelta(minutes=1)))[0].payload == {"text": "高风险提醒"}
    assert await _count(store, "outbox") == 1
    assert lead.role == "lead"


async def test_visit_with_local_time_is_stored_as_the_same_instant(store: Store, station) -> None:
    worker, cases = await _setup_visits(store, station)
    local = datetime(2026, 11, 28, 15, 0, tzinfo=timezone(timedelta(hours=8)))
    visit, _ = await CaseworkStore.of(store).save_visit(worker.id, VisitDraft(cases["李伯"].id, local, "电话"), "k1")
    assert visit.visited_at == local
    rows = await CaseworkStore.of(store).export_visits(station.id, None, None)
    assert rows[0]["走访时间"] == "2026-11-28 15:00"


async def test_worker_cannot_report_on_another_stations_case(store: Store, station) -> None:
    _, cases = await _setup_visits(store, station)
    other = await WorkersStore.of(store).add_station("冼村街社工站")
    stranger = await bound_worker(store, other.id, "赵强", "telegram", "zq")
    draft = VisitDraft(cases["张桂英"].id, store.clock.now(), "入户")
    with pytest.raises(ValueError, match="不属于"):
        await CaseworkStore.of(store).save_visit(stranger.id, draft, "telegram:zq:1")
    assert await _count(store, "visits") == 0
    with pytest.raises(ValueError, match="走访方式"):
        await CaseworkStore.of(store).save_visit(stranger.id, replace(draft, mode="上门"), "x")


async def test_undo_deletes_visit_and_restores_risk(store: Store, station, clock: FrozenClock) -> None:
    worker, cases = await _setup_visits(store, station)
    colleague = await bound_worker(store, station.id, "陈军", "console", "cj")
    case_id = cases["张桂英"].id
    first, _ = await CaseworkStore.of(store).save_visit(
        worker.id, VisitDraft(case_id, clock.now(), "入户", risk_after="中"), "k1"
    )
    clock.advance(minutes=5)
    second, _ = await CaseworkStore.of(store).save_visit(
        worker.id, VisitDraft(case_id, clock.now(), "电话", risk_after="高"), "k2"
    )
    assert await CaseworkStore.of(store).last_visit_of_worker(worker.id) == second
    assert await CaseworkStore.of(store).delete_visit(second.id, colleague.id) is False  # not theirs
    await CaseworkStore.of(store).attach_to_recent_visit(worker.id, "image", url="https://x/1.jpg", since=clock.now())
    assert await CaseworkStore.of(store).delete_visit(second.id, worker.id) is True
    assert await CaseworkStore.of(store).delete_visit(second.id, worker.id) is False
    assert (await CaseworkStore.of(store).case_by_id(case_id, station.id)).risk_level == "中"
    assert await CaseworkStore.of(store).last_visit_of_worker(worker.id) == first
    assert await _count(store, "visit_attachments") == 0


async def test_attachments_go_to_the_newest_recent_visit(store: Store, station, clock: FrozenClock) -> None:
    worker, cases = await _setup_visits(store, station)
    assert await CaseworkStore.of(store).attach_to_recent_visit(worker.id, "image", url="u0") is None
    await CaseworkStore.of(store).save_visit(worker.id, VisitDraft(cases["张桂英"].id, clock.now(), "入户"), "k1")
    clock.advance(minutes=1)
    newer, _ = await CaseworkStore.of(store).save_visit(
        worker.id, VisitDraft(cases["李伯"].id, clock.now(), "入户"), "k2"
    )
    clock.advance(minutes=9)
    attached = await CaseworkStore.of(store).attach_to_recent_visit(
        worker.id, "location", latitude=23.13, longitude=113.33, label="石牌东路"
    )
    assert (attached.id, attached.attachments) == (newer.id, 1)
    attached = await CaseworkStore.of(store).attach_to_recent_visit(
        worker.id, "image", url="u1", since=clock.now() - timedelta(minutes=9)
    )
    assert (attached.id, attached.attachments) == (newer.id, 2)
    clock.advance(minutes=2)
    assert await CaseworkStore.of(store).attach_to_recent_visit(worker.id, "image", url="u2") is None


async def test_visit_lists_and_station_stats(store: Store, station, clock: FrozenClock) -> None:
    worker, cases = await _setup_visits(store, station)
    colleague = await bound_worker(store, station.id, "陈军", "console", "cj")
    await CaseworkStore.of(store).import_cases(
        station.id, [row("张桂英", ID_A, "王芳"), row("李伯", ID_B, "王芳"), row("陈婆", ID_C, "陈军")]
    )
    now = clock.now()
    month_start = datetime(2026, 11, 1, tzinfo=UTC)
    old, _ = await CaseworkStore.of(store).save_visit(
        worker.id, VisitDraft(cases["李伯"].id, now - timedelta(days=40), "电话"), "k0"
    )
    for i in range(6):
        await CaseworkStore.of(store).save_visit(
            worker.id, VisitDraft(cases["张桂英"].id, now - timedelta(days=i), "入户", findings=f"第{i}次"), f"k{i + 1}"
        )
    assert [v.findings for v in await CaseworkStore.of(store).visits_of_case(cases["张桂英"].id)] == [
        f"第{i}次" for i in range(5)
    ]
    assert len(await CaseworkStore.of(store).visits_of_case(cases["张桂英"].id, limit=10)) == 6
    month = await CaseworkStore.of(store).visits_of_worker(worker.id, month_start, now + timedelta(seconds=1))
    assert [v.findings for v in month] == [f"第{i}次" for i in reversed(range(6))]
    assert await CaseworkStore.of(store).visits_of_worker(colleague.id, month_start, now) == []

    mine = {c.name: c.last_visit_at for c in await CaseworkStore.of(store).cases_of_worker(worker.id)}
    assert mine == {"张桂英": now, "李伯": now - timedelta(days=40)}
    stats = await CaseworkStore.of(store).station_stats(station.id, month_start, now)
    assert stats["per_worker"] == [("王芳", 6), ("陈军", 0)]
    assert [c.name for c in stats["never_visited"]] == ["陈婆"]
    assert [(c.name, c.last_visit_at) for c in stats["stale"]] == [("李伯", old.visited_at)]


async def test_export_has_clear_numbers_and_filters(store: Store, station, clock: FrozenClock) -> None:
    worker, cases = await _setup_visits(store, station)
    other = await WorkersStore.of(store).add_station("冼村街社工站")
    stranger = await bound_worker(store, other.id, "赵强", "telegram", "zq")
    await CaseworkStore.of(store).import_cases(other.id, [row("外站对象", ID_C, "赵强")])
    outsider = (await CaseworkStore.of(store).cases_of_worker(stranger.id))[0]
    day = timedelta(days=1)
    await CaseworkStore.of(store).save_visit(
        worker.id,
        VisitDraft(
            cases["张桂英"].id,
            clock.now() - day,
            "入户",
            findings="身体还可以",
            needs="助餐",
            services="送餐",
            risk_after="低",
            follow_up="下周电话回访",
        ),
        "k1",
    )
    await CaseworkStore.of(store).save_visit(stranger.id, VisitDraft(outsider.id, clock.now(), "视频"), "k2")
    rows = await CaseworkStore.of(store).export_visits(station.id, None, None)
    assert rows == [
        {
            "社工站": "石牌街社工站",
            "服务对象": "张桂英",
            "身份证号": ID_A,
            "电话": "13812345678",
            "类别": "低保、独居老人",
            "村居": "石牌村",
            "走访时间": "2026-11-27 17:00",
            "方式": "入户",
            "发现情况": "身体还可以",
            "需求": "助餐",
            "提供服务": "送餐",
            "走访后风险": "低",
            "跟进计划": "下周电话回访",
            "危险提示": "",
            "社工": "王芳",
            "照片": "",
            "照片说明": "",
            "位置": "",
            "对象状态": "在册",
        }
    ]
    assert len(await CaseworkStore.of(store).export_visits(None, None, None)) == 2
    assert [r["服务对象"] for r in await CaseworkStore.of(store).export_visits(None, clock.now() - day / 2, None)] == [
        "外站对象"
    ]
    assert [r["服务对象"] for r in await CaseworkStore.of(store).export_visits(None, None, clock.now())] == ["张桂英"]


async def test_audit_rows(store: Store, station, clock: FrozenClock) -> None:
    worker, cases = await _setup_visits(store, station)
    await store.audit(
        f"worker:{worker.id}",
        "case.read",
        target=f"case:{cases['张桂英'].id}",
        worker_id=worker.id,
        detail={"query": "张桂英"},
    )
    await store.audit("cli:root", "visits.export", detail={"rows": 0})
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT actor, action, target, worker_id FROM audit_log ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [
        (f"worker:{worker.id}", "case.read", f"case:{cases['张桂英'].id}", worker.id),
        ("cli:root", "visits.export", "", None),
    ]


async def _count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def _updated_at(store: Store) -> dict[int, object]:
    async with store.engine.connect() as conn:
        return dict((await conn.execute(text("SELECT id, updated_at FROM cases"))).all())
