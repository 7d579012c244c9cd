"""`绑定 CODE` / `/bind CODE`: a person links this chat identity to the worker an invite code was made for."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from bot.crypto import SecretKeyError
from bot.messages import Reply, reply_to_payload
from bot.ratelimit import address_key
from bot.routing import Context, Regex, Router, in_form
from bot.store import WorkerRecord
from bot.store.casework_records import AREA_ROLES
from bot.trust import casework_refusal
from handlers.common.roles import ROLE_NAMES
from handlers.privacy import consent
from handlers.workers.store import WorkersStore

log = logging.getLogger(__name__)
router = Router("binding")

USAGE = "请发送“绑定 绑定码”，例如：绑定 K7M2QX9P。绑定码由站长用管理命令生成，7 天内有效，只能用一次。"
# One answer for every failure (unknown, expired, used, too many tries): a guesser learns nothing from it.
REFUSED = (
    "绑定没有成功：绑定码不对、已过期或已用过（每个码只能用一次，7 天内有效）。请核对后重新发送，不区分大小写；"
    "连续输错多次需要等 15 分钟再试。仍不行请找站长重新生成。"
)


def attempt_keys(ctx: Context) -> list[str]:
    """Failures are counted per chat identity and, where the channel sees one, per client address."""
    assert ctx.user is not None
    keys = [f"invite:user:{ctx.user.id}"]
    if ctx.incoming.client_address:
        keys.append(address_key("invite:addr", ctx.incoming.client_address))
    return keys


CHANNEL_NAMES = {"telegram": "Telegram", "wecom": "企业微信", "wechat": "微信公众号", "web": "网页", "console": "终端"}


def binding_notice(worker: WorkerRecord, channel: str, identities: int) -> dict[str, Any]:
    """What the station's leads are told when a chat identity is bound to one of their workers."""
    role = ROLE_NAMES.get(worker.role, worker.role)
    where = CHANNEL_NAMES.get(channel, channel or "未知渠道")
    return reply_to_payload(
        Reply(
            f"🔔 绑定提醒：{worker.name}（{role}）刚在{where}绑定了聊天账号，"
            f"现在共 {identities} 个账号可以查看本站服务对象。\n"
            "如果不是本人操作，或此人已离开本站，请管理员运行："
            f"shegong workers disable --station {worker.station_name} "
            f"--name {worker.name}"
        )
    )


@router.message(Regex(r"^(?:/bind(?:@\w+)?|绑定|綁定)(?:\s*[:：]?\s*(?P<code>[A-Za-z0-9][A-Za-z0-9 \-]{3,30}))?\s*$"))
async def bind(ctx: Context, match: re.Match[str]) -> Reply:
    assert ctx.user is not None
    if refusal := casework_refusal(ctx.incoming):  # a group chat would see the code; a forged sender use it
        return Reply(refusal)
    code = match.group("code")
    if not code:
        return Reply(USAGE)
    store, settings = ctx.services.store, ctx.services.settings
    keys = attempt_keys(ctx)
    window = timedelta(minutes=settings.invite_failure_window_minutes)
    if max((await store.recent_events(keys, window)).values()) >= settings.invite_max_failures:
        # Refused unchecked, even a valid code: otherwise the guessing would simply go on more slowly.
        log.warning("invite attempts over the limit", extra={"channel": ctx.incoming.channel})
        await store.note_event(keys)
        return Reply(REFUSED)
    try:
        outcome = await WorkersStore.of(store).redeem_invite(
            store.secrets.invite_hash(code), ctx.user.id, notice=binding_notice
        )
    except SecretKeyError:
        log.error("invite cannot be checked: no secret key configured")
        return Reply("系统还没有配置加密密钥，暂时不能绑定，请联系管理员。")
    if isinstance(outcome, str):
        log.info("invite refused", extra={"reason": outcome, "channel": ctx.incoming.channel})
        await store.note_event(keys)
        return Reply(REFUSED)
    if in_form(ctx.state):
        await ctx.clear_state()  # a half-written form belonged to the previous binding
    consent.update_current(is_worker=True)  # workers get no residents' privacy notice
    log.info("identity bound", extra={"worker_id": outcome.id, "channel": ctx.incoming.channel})
    role = ROLE_NAMES.get(outcome.role, outcome.role)
    if outcome.role in AREA_ROLES:  # no station: station_name holds their area
        return Reply(
            f"绑定成功！{outcome.name}，{role}（{outcome.station_name.partition(':')[2] or '全省'}）。\n"
            "发送“看板”打开本地区各社工站的覆盖率、逾期和危险事件看板。"
        )
    extra = ("，“本站统计”“覆盖率”“危险事件”看全站情况，“看板”打开详细看板，"
             "“结案 姓名 原因”“转交 姓名 给 社工”调整名单") if outcome.is_lead else ""
    return Reply(
        f"绑定成功！{outcome.name}，{role}，{outcome.station_name}。\n"
        f"现在可以发送“走访”记录入户走访，“我的对象”查看负责的服务对象，“本月走访”查看本月记录{extra}。"
    )
