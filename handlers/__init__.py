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
Feature middlewares run in this order too, between intake and the input checks.
"""

from handlers import (
            casework,
            directory,
            handoff,
            help,
            kb_drafts,
            policy_qa,
            privacy,
            reminders,
            reports,
            workers,
)

FEATURES = (workers.FEATURE, privacy.FEATURE, handoff.FEATURE, kb_drafts.FEATURE, directory.FEATURE,
            reports.FEATURE, casework.FEATURE, help.FEATURE, reminders.FEATURE, policy_qa.FEATURE)
