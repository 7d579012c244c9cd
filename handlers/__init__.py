"""Conversation features. Each module owns one `router`; this tuple is the one registration list.

Order matters: the first handler whose filters match a message handles it, so specific commands
come before the catch-all policy question answering.
"""

from handlers import help, policy_qa, profile

ROUTERS = (help.router, profile.router, policy_qa.router)
