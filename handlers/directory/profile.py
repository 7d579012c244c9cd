"""Remembering which city (answers prefer local rules) or 镇街 (station for 找社工) the asker is in."""

from __future__ import annotations

import re

from bot.messages import Reply
from bot.routing import Context, Regex, Router
from handlers.directory.router import looks_like_town, remember_town

router = Router("profile")
PLACE = re.compile(r"^(?:我在|我住在|我喺|我系|我是|设置城市|城市)\s*[:：]?\s*(\S{2,8})$")


def _names_a_place(ctx: Context) -> bool:
    """我系低保户 says who the asker is, not where: a policy term that is not a city, town or station is left to
    the question answering."""
    found = PLACE.search(ctx.text)
    if found is None:
        return False
    word, kb = found.group(1), ctx.services.knowledge.current()
    if kb.city_in(word) or looks_like_town(word) or word.endswith("站"):
        return True
    return not kb.policy_terms_in(word)


@router.message(Regex(PLACE), _names_a_place)
async def set_city(ctx: Context, match: re.Match[str]) -> Reply | None:
    assert ctx.user is not None
    town = await remember_town(ctx, match.group(1))  # a known station's 镇/街道 sets the station
    if town is not None:
        return town
    kb = ctx.services.knowledge.current()
    city = kb.city_in(match.group(1))
    if not city:
        return Reply(f"暂时只能识别广东省内的地级市，例如“我在广州”“我在湛江”。“{match.group(1)}”我没认出来。")
    await ctx.services.store.set_user_city(ctx.user.id, city)
    return Reply(f"好的，已记住您在{city}。以后回答会优先参考{city}的规定。")
