"""`shegong invite --role supervisor --scope …` and `shegong report monthly …`.

Each function returns the exit code; problems the operator must fix end with SystemExit and a Chinese message.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.crypto import UnavailableSecrets, new_invite_code
from bot.store.connect import open_store
from handlers.reports.area import LEVEL_NAMES, AreaError, parse_scope
from handlers.reports.store import add_supervisor_with_invite

INVITE_DAYS = 7


async def invite_supervisor(settings: Settings, scope: str, name: str) -> int:
    try:
        area = parse_scope(scope)
    except AreaError as exc:
        raise SystemExit(str(exc)) from exc
    if area.level == "station":
        raise SystemExit("督导的范围是县（区）、市或全省；社工站的站长请用 --station NAME --role lead")
    store = await open_store(settings)
    try:
        if isinstance(store.secrets, UnavailableSecrets):
            raise SystemExit(store.secrets.reason)
        stations = [s for s in await store.list_stations() if area.contains(s)]
        code = new_invite_code()
        expires = store.clock.now() + timedelta(days=INVITE_DAYS)
        try:
            worker = await add_supervisor_with_invite(store, area, name, store.secrets.invite_hash(code), expires)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    finally:
        await store.close()
    local = expires.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
    print(f"已登记：{worker.name}（督导，{LEVEL_NAMES[area.level]}：{area.label}，目前 {len(stations)} 个社工站）")
    if not stations:
        print("提示：这个范围里还没有社工站；用 shegong station add NAME --city … --district … --town … 添加。")
    print(f"绑定码：{code}（{INVITE_DAYS} 天内有效，至 {local}；只能使用一次，之前发的码作废）")
    print(f"请在任意渠道发送：绑定 {code}")
    return 0
