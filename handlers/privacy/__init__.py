"""The privacy notice and consent (a middleware), 同意 / 不同意 / 隐私 / 删除我的信息, and the retention purge."""

from bot.features import Feature
from handlers.privacy import consent
from handlers.privacy.maintenance import maintenance_hook
from handlers.privacy.router import router

FEATURE = Feature("privacy", router, middlewares=(consent.consent,), background=(maintenance_hook,))
