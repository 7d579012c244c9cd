"""Station directory for residents: 附近社工站 / 社工站在哪 / 社工站电话, the nearest stations to a shared
location, and remembering the resident's 镇街 (`我在石湾镇`, with consent)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from bot.messages import Button, Reply
from bot.routing import Context, HasAttachment, Regex, Router
from bot.store.handoff_records import StationInfo
from handlers.directory.store import DirectoryStore
from handlers.privacy import consent
from knowledge.engine.normalize import to_simplified

router = Router("directory")

STATION_SUFFIXES = ("社会工作服务站", "社会工作站", "社工服务站", "社工站", "服务站")
AREA_SUFFIXES = ("街道", "镇", "街", "乡")
NEAREST = 3
MAX_CHOICES = 6
_ASK = (r"^(?:请问|想问下?)?(?:附近|最近|我们?(?:这里|这边|这儿)|本地|当地)?的?(?:镇街|镇|街道)?社工站"
        r"(?:在哪(?:里|儿)?|喺边度?|地址|电话|联系方式|号码|几点(?:开门|上班)|开放时间|上班时间|怎么去)?[?？。!！]*$"
        r"|^(?:附近|最近)的?社工站.{0,6}$|^(?:社工站)?(?:电话|联系电话)$")


def town_of(station_name: str) -> str:
    """石湾镇社工站 → 石湾镇."""
    for suffix in STATION_SUFFIXES:
        if station_name.endswith(suffix) and len(station_name) > len(suffix):
            return station_name[: -len(suffix)]
    return station_name


def core(text: str) -> str:
    """The place name without 社工站 or 镇/街道: 石湾镇社工站, 石湾镇 and 石湾 all become 石湾."""
    name = town_of(to_simplified(re.sub(r"\s+", "", text)).strip("，,。.!！?？"))
    for suffix in AREA_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def looks_like_town(text: str) -> bool:
    return bool(re.search(r"(?:镇|街道|街|乡)(?:社工站)?$", text.strip()))


def match_stations(stations: Sequence[StationInfo], text: str) -> list[StationInfo]:
    text = to_simplified(text.strip())
    if exact := [s for s in stations if s.name == text]:
        return exact
    wanted = core(text)
    if len(wanted) < 2:
        return []
    if same := [s for s in stations if core(s.name) == wanted]:
        return same
    return [s for s in stations if wanted in s.name or (len(core(s.name)) >= 2 and core(s.name) in text)]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(a))


def describe(station: StationInfo, distance: float | None = None) -> str:
    far = f"（约 {distance:.1f} 公里）" if distance is not None else ""
    lines = [f"📍 {station.name}{far}"]
    lines.append(f"地址：{station.address}" if station.address else "地址：暂未登记，可向村（居）委会询问")
    lines.append(f"电话：{station.phone}" if station.phone else "电话：暂未登记，可拨打 12345 查询")
    if station.hours:
        lines.append(f"开放时间：{station.hours}")
    return "\n".join(lines)


def choices(stations: Sequence[StationInfo]) -> list[Button]:
    """Buttons that answer `我在 …` (the profile handler reads at most 8 characters after 我在)."""
    return [Button(town_of(s.name), f"我在{s.name if len(s.name) <= 8 else town_of(s.name)}")
            for s in stations[:MAX_CHOICES]]


# -- 我在 XX镇 --------------------------------------------------------------------------------------------
async def remember_town(ctx: Context, text: str) -> Reply | None:
    """`我在石湾镇`: a known station's town is remembered (after consent); None when `text` names no station
    and does not look like a town, so that the caller can try a city."""
    if not looks_like_town(text) and ctx.services.knowledge.current().city_in(text):
        return None  # 我在佛山: a city, even if station names start with it
    found = match_stations(await DirectoryStore.of(ctx.services.store).station_directory(), text)
    if len(found) > 1:
        return Reply("找到几个社工站，您在哪一个？", buttons=choices(found))
    if not found:
        if looks_like_town(text):
            return Reply(f"暂时没有“{text}”社工站的资料。可以发送您的位置，我帮您找最近的社工站；"
                         "也可以拨打 12345 政务服务热线查询。")
        return None
    station = found[0]
    if not await consent.has_consented(ctx):
        return await consent.ask_consent(ctx, "town", {"station": station.id})
    return await save_town(ctx, station)


@consent.continuation("town")
async def town_after_consent(ctx: Context, data: dict) -> Reply:
    station = await DirectoryStore.of(ctx.services.store).station_info(int(data["station"]))
    if station is None:
        return Reply("这个社工站的资料已被删除，请重新告诉我您在哪个镇（街）。")
    return await save_town(ctx, station)


async def save_town(ctx: Context, station: StationInfo) -> Reply:
    assert ctx.user is not None
    store, town = ctx.services.store, town_of(station.name)
    await DirectoryStore.of(store).set_resident_station(ctx.user.id, station.id, town)
    consent.update_current(station_id=station.id, town=town)
    city = ctx.services.knowledge.current().city_in(station.city) if station.city else ""
    if city and not ctx.user.city:
        await store.set_user_city(ctx.user.id, city)
    return Reply(f"好的，已记住您在{town}（{station.name}）。找社工时会转给这个社工站；"
                 "发送“社工站在哪”可以查看地址和电话。")


# -- where is my station ----------------------------------------------------------------------------------
@router.message(Regex(_ASK), consent.is_resident)
async def where(ctx: Context) -> Reply:
    store = ctx.services.store
    status = consent.current()
    station = await DirectoryStore.of(store).station_info(status.station_id) if status and status.station_id else None
    if station is not None:
        return Reply(describe(station) + "\n\n发送您的位置，可以查看离您最近的几个社工站。")
    stations = await DirectoryStore.of(store).station_directory()
    city = ctx.user.city if ctx.user else ""
    local = [s for s in stations if city and s.city and (s.city in city or city in s.city)]
    ask = "告诉我您在哪个镇（街），例如“我在石湾镇”，或发送您的位置，我帮您找最近的社工站。"
    if local and len(local) <= MAX_CHOICES:
        return Reply(ask + "\n\n" + "\n\n".join(describe(s) for s in local), buttons=choices(local))
    return Reply(ask + "\n也可以拨打 12345 政务服务热线查询当地社工站。", buttons=choices(stations) if
                 len(stations) <= MAX_CHOICES else [])


@router.message(HasAttachment("location"), consent.is_resident)
async def nearest(ctx: Context) -> Reply:
    place = next(a for a in ctx.incoming.attachments if a.kind == "location")
    here_lat, here_lon = place.latitude, place.longitude
    if here_lat is None or here_lon is None:
        return Reply("没有读到位置的经纬度，请重新发送位置，或告诉我您在哪个镇（街）。")
    located = [(s, s.latitude, s.longitude) for s in await DirectoryStore.of(ctx.services.store).station_directory()
               if s.latitude is not None and s.longitude is not None]
    if not located:
        return Reply("暂时还没有社工站登记位置，没法按距离查找。请用文字告诉我您在哪个镇（街），例如“我在石湾镇”，"
                     "或拨打 12345 政务服务热线查询。")
    ranked = sorted(((distance_km(here_lat, here_lon, lat, lon), s) for s, lat, lon in located), key=lambda r: r[0])
    shown = [s for _, s in ranked[:NEAREST]]
    lines = [describe(s, km) for km, s in ranked[:NEAREST]]
    return Reply("离您最近的社工站：\n\n" + "\n\n".join(lines), buttons=choices(shown))
