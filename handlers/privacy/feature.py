"""The privacy feature as the engine sees it: the consent middleware and its router (the retention purge runs
with the handoff housekeeping, handlers/handoff/maintenance.py, since most of what it deletes is tickets)."""

from bot.features import Feature
from handlers.privacy import consent
from handlers.privacy.router import router

FEATURE = Feature("privacy", router, middlewares=(consent.consent,))
