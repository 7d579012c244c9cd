"""The policy_qa feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from handlers.policy_qa.router import router

FEATURE = Feature("policy_qa", router)
