"""Station directory (社工站在哪, nearest to a shared location, 我在 XX镇) and knowledge-base drafts (收录 → 发布 →
the bot answers the next resident), through the real dispatcher on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import Attachment
from bot.store.handoff_models import KbDraft
from handlers.directory.router import core, distance_km, match_stations
from handlers.directory.store import DirectoryStore
from handlers.workers.store import WorkersStore


def test_place_names_and_distances() -> None:
    assert core("石湾镇社工站") == core("石湾镇") == core("石湾") == "石湾"
    assert core("张槎街道社工站") == core("张槎街道") == "张槎"
    assert round(distance_km(23.0030, 113.0860, 22.8730, 113.0860), 1) == 14.5  # 0.13° of latitude
    assert distance_km(23.0, 113.0, 23.0, 113.0) == 0


async def test_where_is_my_station(desk) -> None:
    unknown = await desk.one("社工站在哪")
    assert "哪个镇（街）" in unknown.text and {b.label for b in unknown.buttons} == {"石湾镇", "龙江镇"}
    await desk.say("同意")
    await desk.one("我在石湾镇")
    for question in ("附近社工站", "社工站电话", "社工站在哪里？", "电话"):
        known = await desk.one(question)
        assert "石湾镇社工站" in known.text and "0757-82700000" in known.text, question
        assert "太平街 8 号" in known.text and "8:30-12:00" in known.text and "龙江" not in known.text
    assert "0757-82700000" not in (await desk.worker("李敏", "社工站在哪")).text  # workers: a policy question


async def test_shared_location_lists_the_nearest_stations(desk) -> None:
    near_longjiang = Attachment("location", latitude=22.8800, longitude=113.0900, label="龙江镇政府")
    reply = await desk.one(attachments=(near_longjiang,))
    assert reply.text.index("龙江镇社工站") < reply.text.index("石湾镇社工站")
    assert "约 0.9 公里" in reply.text and "0757-23300000" in reply.text
    assert [b.payload for b in reply.buttons] == ["我在龙江镇社工站", "我在石湾镇社工站"]
    assert "同意" in (await desk.one("我在龙江镇社工站")).text  # choosing one asks for consent first


async def test_town_names_match_stations_and_cities_still_set_the_city(desk) -> None:
    stations = await DirectoryStore.of(desk.store).station_directory()
    assert [s.name for s in match_stations(stations, "龙江")] == ["龙江镇社工站"]
    assert match_stations(stations, "广州") == []
    await desk.say("同意")
    assert "广州市" in (await desk.one("我在广州")).text
    assert "暂时没有“大沥镇”社工站的资料" in (await desk.one("我在大沥镇")).text
    assert "龙江镇社工站" in (await desk.one("我喺龙江镇")).text


async def test_saved_answer_is_published_by_the_lead_and_answered_by_the_bot(desk) -> None:
    question = "石湾镇的长者助餐配送服务怎么预约？"
    answer = "打石湾镇长者饭堂电话 0757-82711111 预约，提前一天登记，行动不便的老人可以送餐上门，每餐八元。"
    await desk.ready_resident()
    number = await desk.open_ticket(question)
    assert "还没有社工的回复" in (await desk.worker("李敏", f"收录 {number}")).text
    await desk.worker("李敏", f"回复 {number} {answer}")
    await desk.worker("李敏", f"结束 {number}")
    saved = await desk.worker("李敏", f"收录 {number}")
    assert "知识库草稿 #1" in saved.text and "已请站长审核" in saved.text
    assert "发布 1" in (await desk.to_worker("陈站长"))[-1]  # the lead is asked to review
    assert "只有站长" in (await desk.worker("李敏", "发布 1")).text
    assert "本站没有知识库草稿 #1" in (await desk.worker("龙站长", "发布 1")).text

    preview = await desk.worker("陈站长", "发布 1")  # the exact text first, then a confirmation
    assert "确认发布 1" in preview.text and "每餐八元" in preview.text
    assert "0757-82711111" not in preview.text  # drafts are scrubbed of phone numbers (issue 13)
    async with desk.store.session() as s:
        assert (await s.execute(select(KbDraft.status))).scalar_one() == "draft"
    published = await desk.worker("陈站长", "确认发布 1")
    assert "已发布到知识库" in published.text
    assert "已经发布过" in (await desk.worker("陈站长", "发布 1")).text
    assert "已经发布过" in (await desk.worker("陈站长", "确认发布 1")).text
    async with desk.store.session() as s:
        [draft] = (await s.execute(select(KbDraft))).scalars()
    assert draft.status == "published" and draft.document_path == f"stations/{desk.a.id}/answer-1.md"

    bot = await desk.one("长者助餐配送怎么预约", user="o_resident_9")
    assert "每餐八元" in bot.text and "[电话]" in bot.text and bot.citations
    assert bot.citations[0].source == "石湾镇社工站社工解答"


async def test_a_city_named_in_station_names_still_sets_the_city(desk) -> None:
    await WorkersStore.of(desk.store).add_station("佛山市禅城区张槎街道社工站", city="佛山市")
    await desk.say("同意")
    assert "佛山市" in (await desk.one("我在佛山")).text and "社工站" not in (await desk.one("我在佛山")).text
    choose = await desk.one("我在张槎街道")
    assert "已记住您在佛山市禅城区张槎街道" in choose.text
    pick = await desk.one("我在石湾镇社工站")
    assert "已记住您在石湾镇" in pick.text
