"""Conversation features. Each module owns one `router`; this tuple is the one registration list.

Order matters: the first handler whose filters match a message handles it, so specific commands
come before the catch-all policy question answering, and casework (whose dialog-state handlers must see
a half-written report before anything else) comes first.
"""

from handlers import binding, casework_queries, help, policy_qa, profile, reminders, visits
from handlers import directory, handoff, kb_drafts, privacy, tickets

# Privacy and handoff come before casework: 删除我的信息 works everywhere, a resident's 转人工 dialog takes any
# text as its answer, and the directory's location handler (residents only) must see a shared location
# before visits takes it as a visit attachment.
HANDOFF = (privacy.router, handoff.router, tickets.router, kb_drafts.router, directory.router)

ROUTERS = (binding.router, *HANDOFF, visits.router, casework_queries.router, help.router, profile.router,
           reminders.router, policy_qa.router)
