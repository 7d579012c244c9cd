"""Policy questions answered from the knowledge base, with the source; the catch-all, so it comes last."""

from bot.features import Feature
from handlers.policy_qa.router import router

FEATURE = Feature("policy_qa", router)
