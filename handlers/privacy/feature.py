"""The privacy feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from handlers.privacy import admin, consent
from handlers.privacy.maintenance import maintenance_hook
from handlers.privacy.router import router

FEATURE = Feature("privacy", router, middlewares=(consent.consent,), background=(maintenance_hook,),
                  commands=admin.add_commands)
