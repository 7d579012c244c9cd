"""One dispatch pass: on a working day inside the send window, queue each worker's digest of what is new or
changed (at most once per day) and
escalate long-overdue items to the station's leads (once per item and due date), all through the outbox.

A pass is idempotent: run it twice, in two processes, or again after a crash, and each digest and each
escalation is queued once (see bot/store/reminders.py for why).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.messages import reply_to_payload
from bot.store.outbox import HELD
from handlers.common.calendar import SendWindow, WorkCalendar
from handlers.reminders import render
from handlers.reminders.due import DueItem, by_worker, compute_due
from handlers.reminders.rules import RuleBook
from handlers.reminders.store import Contact, DigestPlan, Identity, Notice, ReminderStore

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

PUSHABLE = ("telegram", "wecom", "wechat")  # channels that can message a person first
BATCH = 200  # digests per transaction


def choose_route(contact: Contact | None, now: datetime, channels: Iterable[str],
                 wechat_window: timedelta) -> Identity | None:
    """Where to reach a worker: the identity they used most recently among those we can push to. WeChat
    customer-service messages are allowed only within 48 h of the user's last message, so an older WeChat
    identity does not count (a WeCom or Telegram one does); None means "需另行联系"."""
    if contact is None:
        return None
    allowed = set(channels) & set(PUSHABLE)
    usable = [i for i in contact.identities
              if i.channel in allowed and (i.channel != "wechat" or now - i.last_seen_at <= wechat_window)]
    return max(usable, key=lambda i: i.last_seen_at, default=None)


@dataclass
class DispatchReport:
    day: date
    skipped: str = ""  # why nothing was sent: "非工作日（国庆节假期）", "不在发送时段"
    items: int = 0
    digests: int = 0  # workers with something to do today
    queued: int = 0  # digests queued by this pass (the rest were queued before, by any process)
    unreachable: list[str] = field(default_factory=list)
    escalated: int = 0  # escalation notices pushed to a lead's chat
    held: list[str] = field(default_factory=list)  # leads no channel reaches: notices kept for their next message
    no_lead: list[str] = field(default_factory=list)  # stations with overdue items but no lead to tell

    def summary(self) -> str:
        if self.skipped:
            return f"{self.day.isoformat()}：{self.skipped}，不发送提醒。"
        text = (f"{self.day.isoformat()}：到期/逾期 {self.items} 项，涉及社工 {self.digests} 人；本次排队提醒 "
                f"{self.queued} 份，逾期上报通知 {self.escalated} 条。")
        if self.unreachable:
            text += f"\n需另行联系（没有可推送的账号）：{'、'.join(self.unreachable)}"
        if self.held:
            text += (f"\n逾期上报未能推送给站长：{'、'.join(self.held)}（没有可推送的账号；"
                     "通知已保留，等其下次给机器人发消息时显示，急事请直接电话联系）")
        if self.no_lead:
            text += f"\n有逾期事项但未设站长，无法上报：{'、'.join(self.no_lead)}"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "skipped": self.skipped, "items": self.items, "digests": self.digests,
                "queued": self.queued, "unreachable": self.unreachable, "escalated": self.escalated,
                "escalation_held": self.held, "no_lead": self.no_lead}


class ReminderDispatcher:
    def __init__(self, store: Store, rules: RuleBook, channels: Iterable[str], calendar: WorkCalendar | None = None,
                 window: SendWindow | None = None, wechat_window: timedelta = timedelta(hours=48)) -> None:
        self.store = store
        self.rules = rules
        self.channels = tuple(channels)
        self.calendar = calendar or WorkCalendar()
        self.window = window or SendWindow()
        self.wechat_window = wechat_window

    def why_not(self, now: datetime) -> str:
        """"" when reminders may go out now; otherwise the reason, in words."""
        local = now.astimezone(self.store.tz)
        if not self.calendar.is_workday(local.date()):
            return f"非工作日（{self.calendar.describe(local.date())}）"
        if not self.window.contains(local):
            return f"不在发送时段（{self.window.start:%H:%M}–{self.window.end:%H:%M}）"
        return ""

    async def run(self, now: datetime) -> DispatchReport:
        today = now.astimezone(self.store.tz).date()
        report = DispatchReport(today, skipped=self.why_not(now))
        if report.skipped:
            return report
        items = await compute_due(self.store, self.rules, today)
        contacts = await ReminderStore.of(self.store).reminder_contacts()
        report.items = len(items)
        await self._digests(today, now, items, contacts, report)
        await self._escalations(today, now, items, contacts, report)
        log.info("reminder pass: %s", report.summary())
        return report

    async def _digests(self, today: date, now: datetime, items: list[DueItem], contacts: dict[int, Contact],
                       report: DispatchReport) -> None:
        """A digest goes to a worker only when something is new or changed since the last one: an item (for its
        due date) no digest delivered yet, or one whose 推迟 ended since the last working day. It lists at most
        DIGEST_LIMIT of them and counts the rest of the worker's list; the ones left out are new tomorrow."""
        reminders = ReminderStore.of(self.store)
        pending = {w: mine for w, mine in by_worker(d for d in items if not d.snoozed_until).items() if w is not None}
        seen = await reminders.reminded([(d.case_id, d.item.key, d.due_date, w) for w, mine in pending.items()
                                         for d in mine])
        back = await reminders.snoozes_ended(self._previous_workday(today), today)
        plans: list[DigestPlan] = []
        for worker_id, mine in pending.items():  # unassigned cases reach the leads through escalation
            new = [d for d in mine if (d.case_id, d.item.key, d.due_date, worker_id) not in seen
                   or (d.case_id, d.item.key, d.due_date) in back]
            if not new:
                continue
            contact = contacts.get(worker_id)
            route = choose_route(contact, now, self.channels, self.wechat_window)
            shown = new[:render.DIGEST_LIMIT]
            plans.append(DigestPlan(
                worker_id, contact.station_id if contact else mine[0].station_id,
                route.channel if route else "", route.chat_id if route else "",
                reply_to_payload(render.digest(today, shown, mine, len(new))) if route else {},
                render.entries(shown), sum(1 for d in mine if d.status == "overdue")))
            if route is None:
                report.unreachable.append(contact.name if contact else f"社工#{worker_id}")
        report.digests = len(plans)
        for start in range(0, len(plans), BATCH):
            report.queued += len(await reminders.queue_digests(today, plans[start:start + BATCH]))

    def _previous_workday(self, today: date) -> date:
        day = today - timedelta(days=1)
        for _ in range(30):  # the longest holiday with its weekends is far shorter
            if self.calendar.is_workday(day):
                break
            day -= timedelta(days=1)
        return day

    async def _escalations(self, today: date, now: datetime, items: list[DueItem], contacts: dict[int, Contact],
                           report: DispatchReport) -> None:
        overdue = [d for d in items if d.escalates]
        if not overdue:
            return
        names = await ReminderStore.of(self.store).station_names()
        workers = {w: c.name for w, c in contacts.items()}
        found = {(d.case_id, d.item.key, d.due_date): d for d in overdue}
        leads_of: dict[int, list[Contact]] = {}
        for c in contacts.values():
            if c.is_lead:
                leads_of.setdefault(c.station_id, []).append(c)
        notices: list[Notice] = []
        for d in overdue:
            notices.extend(Notice(d.case_id, d.item.key, d.due_date, d.station_id, lead.worker_id)
                           for lead in leads_of.get(d.station_id, ()))
        report.no_lead = sorted({names.get(d.station_id, f"#{d.station_id}") for d in overdue
                                 if d.station_id not in leads_of})

        def show(lead_id: int, mine: list[Notice]) -> tuple[str, str, dict[str, Any]]:
            listed = sorted((found[(n.case_id, n.item_key, n.due_date)] for n in mine), key=DueItem.sort_key)
            payload = reply_to_payload(render.escalation(names.get(mine[0].station_id, ""), listed, workers))
            route = choose_route(contacts.get(lead_id), now, self.channels, self.wechat_window)
            if route is None:  # bound only on the console, say: kept for the lead's next message on any channel
                return HELD, f"worker:{lead_id}", payload
            return route.channel, route.chat_id, payload

        result = await ReminderStore.of(self.store).queue_escalations(today, notices, show)
        report.escalated = result.pushed
        report.held = sorted(workers.get(lead, f"站长#{lead}") for lead in result.held)
