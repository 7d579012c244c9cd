"""Conversation features: one package each, all of the same shape (see CONTRIBUTING.md).

FEATURES is the one place where features and their order are listed. Routing tries each feature's router in
this order, and the first handler that takes a message answers it:
- workers first: `绑定 CODE` must work whatever else is going on;
- privacy and handoff before casework: 删除我的信息 works everywhere, and a resident's 转人工 dialog takes any
  text as its answer; the directory's location handler (residents only) sees a shared location before
  casework takes it as a visit attachment;
- reports before casework: `本站统计`, `覆盖率`, `危险事件`, `看板` for leads and for supervisors, who are bound
  but are not station workers (casework would tell them these are for workers);
- policy_qa last: it answers any text nobody else took.
Feature middlewares run in this order too, between intake and the input checks. Each package's `feature.py`
builds its `FEATURE`; package `__init__` modules stay empty so importing one module of a feature never
loads the others.
"""

from handlers import help
from handlers.casework.feature import FEATURE as CASEWORK
from handlers.directory.feature import FEATURE as DIRECTORY
from handlers.handoff.feature import FEATURE as HANDOFF
from handlers.kb_drafts.feature import FEATURE as KB_DRAFTS
from handlers.policy_qa.feature import FEATURE as POLICY_QA
from handlers.privacy.feature import FEATURE as PRIVACY
from handlers.reminders.feature import FEATURE as REMINDERS
from handlers.reports.feature import FEATURE as REPORTS
from handlers.workers.feature import FEATURE as WORKERS

FEATURES = (WORKERS, PRIVACY, HANDOFF, KB_DRAFTS, DIRECTORY, REPORTS, CASEWORK, help.FEATURE, REMINDERS,
            POLICY_QA)
