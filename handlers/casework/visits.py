"""Home-visit reports by bound workers: one message (typed or dictated), or a guided six-step form; both end
in the same confirmation, and nothing is saved before `确认`. Also 撤销, photos and locations after a save,
and safety escalation to the station's leads through the outbox."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.messages import Button, Reply, reply_to_payload
from bot.routing import (
    Command,
    Context,
    Regex,
    Router,
    SkipHandler,
    State,
    StatesGroup,
    has_text,
)
from bot.store import CaseRecord, VisitRecord, WorkerRecord
from bot.store.outbox import HELD
from handlers.casework.store import CaseworkStore
from handlers.casework.store_visits import CaseClosedError
from handlers.casework.visit_form import (
    CONFIRM_WORDS,
    NO_OWNER,
    YES_EACH,
    Draft,
    answer_question,
    apply_edit,
    format_day,
    is_edit,
    lead_notice,
    render_confirmation,
)
from handlers.casework.visit_names import Roster
from handlers.casework.visit_parser import (
    MODES,
    default_danger_words,
    describe,
    parse_mode,
    parse_risk,
    parse_visit,
)
from handlers.common.help_texts import is_how_to, worker_help
from handlers.common.localtime import local_tz
from handlers.common.roles import IsWorker, actor, private_only
from handlers.workers.store import WorkersStore
from knowledge.engine.normalize import to_simplified

log = logging.getLogger(__name__)
router = Router("visits", IsWorker(), guard=private_only)

# Loaded (and validated) at start-up: a bad line in the file stops the bot with the file name and line number
# instead of failing the first report that mentions danger.
DANGER_WORDS = default_danger_words()
UNDO_WINDOW = timedelta(minutes=30)
ATTACH_WINDOW = timedelta(minutes=10)
MAX_CHOICES = 8
STEPS = ("case", "mode", "situation", "needs", "risk", "follow_up")


class VisitForm(StatesGroup):
    """The visit report dialog: choosing the person, the guided steps, the confirmation."""

    prefix = "visit"
    form = True
    pick = State()
    confirm = State()
    step = State(prefix=True)  # visit:step:<field>


# Where a dialog goes after the person is chosen, kept in the state data as the stored state name.
PICK, CONFIRM, STEP = VisitForm.pick(), VisitForm.confirm(), VisitForm.step() + ":"
ADD = "add"  # after a choice: the chosen case is one more person of the report
CANCEL_WORDS = {"取消", "退出", "算了", "不要了", "放弃", "/cancel"}
NONE_WORDS = {"无", "没有", "暂无", "没", "无需求", "没需求", "不需要", "没有需求"}
# Commands that would otherwise be swallowed as an answer in the middle of a form.
OTHER_COMMANDS = {"我的对象", "本月走访", "本站统计", "帮助", "菜单", "撤销", "/help", "/start"}
# Whole-message commands of the reminder and ticket features. Typed in a free-text step they are a slip (the
# worker wanted that feature), not an answer, so the form asks again instead of keeping them as text.
_OTHER_FEATURE = re.compile(
    r"^(?:(?:我的|今日)?待办(?:事项)?|(?:本站)?逾期(?:事项|清单)?|工单(?:列表)?|值班|下班"
    r"|(?:完成|已完成|推迟|延后|延期|工单|结束|关闭|收录|发布)\s*第?\s*#?\d{1,9}\s*项?"
    r"(?:\s*\d+\s*[天日])?|rmd:.*)$"
)
USAGE = (
    "记录走访可以一条消息说完，例如：\n走访 张桂英 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访\n"
    "也可以只发“走访”，我一步步问您。"
)
_COMMAND = re.compile(r"^\s*(?:/visit(?:@\w+)?|走访|走訪)\s*[:：]?\s*", re.DOTALL)
_CASE_REF = re.compile(r"^#(\d{1,10})$")
_CHOICE = re.compile(r"^(?:#\d{1,10}|\d{1,2}|[\u4e00-\u9fff·]{2,8})$")


def _cancel(ctx: Context) -> bool:
    return ctx.text.rstrip("!！。.~ ") in CANCEL_WORDS


def _confirm(ctx: Context) -> bool:
    return ctx.text.rstrip("!！。.~ ") in CONFIRM_WORDS


# -- cancel, start -------------------------------------------------------------------------------
@router.message(_cancel, state=VisitForm)
async def cancel(ctx: Context) -> Reply:
    await ctx.clear_state()
    return Reply("已取消，这条走访记录没有保存。")


def _not_writing(ctx: Context) -> bool:
    """Not in a free-text step of the form, where `走访时老人在睡觉` is an answer, not a new report."""
    state = ctx.state or ""
    return not state.startswith(STEP) or state.removeprefix(STEP) in ("case", "mode", "risk")


START = Regex(r"^\s*(?:/visit(?:@\w+)?|走访|走訪)(?:\s|[:：]|$|(?=[\u4e00-\u9fff]))")
UNDO = Command("undo", keywords={"撤销", "撤回", "撤销走访", "撤销上一条"})
WORKER_ONLY = (START, UNDO)  # non-workers are told these are for workers


@router.message(START, _not_writing)
async def start_report(ctx: Context, worker: WorkerRecord) -> Reply:
    body = _COMMAND.sub("", ctx.incoming.text, count=1).strip()
    restarted = "（上一条未确认的记录已放弃）" if VisitForm.contains(ctx.state) else ""
    now, tz = ctx.services.clock.now(), local_tz(ctx)
    # The worker is part of the key: platform message ids can start over (a new Telegram bot token),
    # and a new report must never be mistaken for someone else's saved one.
    source_key = f"worker:{worker.id}:{ctx.incoming.dedup_key}"
    if not body:
        draft = Draft(source_key=source_key, visited_at=now.astimezone(tz).isoformat())
        return await _ask_step(ctx, worker, draft, "case", note=restarted)
    if is_how_to(to_simplified(ctx.incoming.text)) or body.rstrip().endswith(("？", "?")):  # 走访记录怎么写
        return Reply(worker_help(worker), buttons=[Button("走访")])
    return await _report(ctx, worker, body, source_key, restarted)


async def _report(ctx: Context, worker: WorkerRecord, body: str, source_key: str, note: str = "") -> Reply:
    """A one-message report: parsed against the whole station's roster (a colleague's case is recognised,
    and then confirmed), the person resolved, and what the text left open asked in the confirmation."""
    now, tz = ctx.services.clock.now(), local_tz(ctx)
    names = await CaseworkStore.of(ctx.services.store).station_case_names(worker.station_id)
    parsed = parse_visit(body, now, tz, known_names=names)
    if not parsed.name:
        return Reply(USAGE)
    draft = Draft.from_parsed(parsed, source_key)
    if parsed.suggestions:
        return await _suggest(ctx, worker, draft, parsed.name, [name for _typed, name in parsed.suggestions], note)
    return await _resolve_case(ctx, worker, draft, parsed.name, after=CONFIRM, note=note)


async def _suggest(
    ctx: Context, worker: WorkerRecord, draft: Draft, typed: str, names: list[str], note: str = ""
) -> Reply:
    """`陈贵英` when the roster has 陈桂英: a question, never a silent replacement."""
    store = CaseworkStore.of(ctx.services.store)
    found = [
        c
        for name in dict.fromkeys(names)
        for c in await store.find_cases(worker.station_id, name)
        if c.name == name
    ][:MAX_CHOICES]
    if not found:
        return await _resolve_case(ctx, worker, draft, typed, after=CONFIRM, note=note)
    await ctx.set_state(PICK, {"draft": draft.to_state(), "after": CONFIRM, "candidates": [c.id for c in found]})
    buttons = [Button(label, f"#{c.id}") for c, label in zip(found, case_labels(found, worker), strict=False)]
    prefix = f"{note}\n" if note else ""
    return Reply(
        f"{prefix}名单上没有“{typed}”，是不是 {'、'.join(dict.fromkeys(c.name for c in found))}？\n"
        "点选或回复序号；都不是请回复正确姓名或“取消”。\n"
        + "\n".join(f"{i}. {b.label}" for i, b in enumerate(buttons, 1)),
        buttons=buttons,
    )


async def report_for_case(
    ctx: Context, worker: WorkerRecord, case: CaseRecord, note: str = "", mode_hint: str = ""
) -> Reply:
    """A visit to record for a known case (a reminder item done with `完成 N`): dated today without a time,
    its mode and risk asked in the confirmation, saved only after 确认 like any report."""
    now = ctx.services.clock.now()
    draft = Draft(
        source_key=f"worker:{worker.id}:{ctx.incoming.dedup_key}",
        visited_at=now.isoformat(),
        clock_given=False,
        questions=["mode", "risk"],
        mode_hint=mode_hint,
    )
    return await _with_case(ctx, worker, draft, case, CONFIRM, note)


# -- which case ----------------------------------------------------------------------------------
async def _lookup(ctx: Context, worker: WorkerRecord, query: str) -> list[CaseRecord]:
    """Own cases first, then the station's; an exact name beats a near one. Never outside the station."""
    store = ctx.services.store
    query = to_simplified(query)
    own = await CaseworkStore.of(store).find_cases(worker.station_id, query, worker.id)
    if exact := [c for c in own if c.name == query]:
        return exact
    station = await CaseworkStore.of(store).find_cases(worker.station_id, query)
    if exact := [c for c in station if c.name == query]:
        return exact
    return own or station


def _label(case: CaseRecord, worker: WorkerRecord, detail: str = "") -> str:
    where = case.village or "未填村居"
    owner = "" if case.worker_id == worker.id else f"·{case.worker_name or '未分配'}负责"
    return f"{case.name}（{where}{detail}{owner}）"


def case_labels(cases: list[CaseRecord], worker: WorkerRecord) -> list[str]:
    """One line per case; two people of the same name and village are told apart by address, else by the
    masked ID number's last four characters."""
    plain = [_label(c, worker) for c in cases]
    labels = []
    for case, label in zip(cases, plain, strict=False):
        if plain.count(label) == 1:
            labels.append(label)
            continue
        twins = [c for c, other in zip(cases, plain, strict=False) if other == label]
        addresses = [c.address for c in twins]
        if case.address and addresses.count(case.address) == 1:
            labels.append(_label(case, worker, f"·{case.address}"))
        else:
            tail = case.id_masked[-4:] if case.id_masked else ""
            labels.append(_label(case, worker, f"·身份证尾号{tail}" if tail else f"·编号{case.id}"))
    return labels


async def _resolve_case(
    ctx: Context, worker: WorkerRecord, draft: Draft, query: str, after: str, note: str = ""
) -> Reply:
    found = await _lookup(ctx, worker, query)
    if len(found) == 1:
        return await _with_case(ctx, worker, draft, found[0], after, note)
    shown = found[:MAX_CHOICES]
    await ctx.set_state(PICK, {"draft": draft.to_state(), "after": after, "candidates": [c.id for c in shown]})
    buttons = [Button(label, f"#{c.id}") for c, label in zip(shown, case_labels(shown, worker), strict=False)]
    prefix = f"{note}\n" if note else ""
    if not found:
        return Reply(f"{prefix}本站没有找到“{query}”。请回复正确的姓名，或发送“我的对象”查看名单，“取消”放弃。")
    if all(c.name == to_simplified(query) for c in found):
        head = f"有 {len(found)} 位叫“{query}”的服务对象，是哪一位？"
    else:
        head = f"没有正好叫“{query}”的服务对象，是下面哪一位？"
    more = "（只列出前 8 位，请输入完整姓名）" if len(found) > MAX_CHOICES else ""
    return Reply(
        f"{prefix}{head}{more}\n点选或回复序号；都不是请回复正确姓名或“取消”。\n"
        + "\n".join(f"{i}. {b.label}" for i, b in enumerate(buttons, 1)),
        buttons=buttons,
    )


async def _with_case(
    ctx: Context, worker: WorkerRecord, draft: Draft, case: CaseRecord, after: str, note: str = ""
) -> Reply:
    if after == ADD:  # one more person of a report naming several
        if case.id != draft.case_id and all(case.id != other[0] for other in draft.others):
            draft = replace(draft, others=[*draft.others, [case.id, case.name, case.village]])
        return await _add_people(ctx, worker, draft, note)
    owner = "" if case.worker_id == worker.id else case.worker_name or NO_OWNER
    draft = replace(draft, case_id=case.id, case_name=case.name, case_village=case.village, owner=owner)
    if after == CONFIRM:
        return await _show_confirmation(ctx, draft, note)
    return await _ask_step(ctx, worker, draft, _next_step(draft, "case"), note=note)


async def _add_people(ctx: Context, worker: WorkerRecord, draft: Draft, note: str = "") -> Reply:
    """Record the other people the report names too: each resolved like the first (a choice when the station
    has two of the name), then back to the confirmation."""
    notes = [note] if note else []
    while draft.extra_names:
        name, rest = draft.extra_names[0], draft.extra_names[1:]
        draft = replace(draft, extra_names=rest)
        found = [c for c in await _lookup(ctx, worker, name) if c.name == name]
        if len(found) == 1:
            case = found[0]
            if case.id != draft.case_id and all(case.id != other[0] for other in draft.others):
                draft = replace(draft, others=[*draft.others, [case.id, case.name, case.village]])
        elif found:
            return await _resolve_case(ctx, worker, draft, name, after=ADD, note="\n".join(notes))
        else:
            notes.append(f"本站没有找到“{name}”，没有加入。")
    return await _show_confirmation(ctx, draft, "\n".join(notes))


async def _show_confirmation(ctx: Context, draft: Draft, note: str = "") -> Reply:
    await ctx.set_state(CONFIRM, {"draft": draft.to_state()})
    return render_confirmation(draft, ctx.services.clock.now(), local_tz(ctx), note=note)


def _name_like(ctx: Context) -> bool:
    """A choice or a name; anything else (a question, a new command) passes by and the choice stays open."""
    return _CHOICE.match(ctx.text) is not None


@router.message(_name_like, state=VisitForm.pick)
async def pick_case(ctx: Context, worker: WorkerRecord) -> Reply:
    data = ctx.state_data
    draft, after, candidates = Draft.from_state(data["draft"]), data.get("after", CONFIRM), data.get("candidates", [])
    if ctx.text in OTHER_COMMANDS or _confirm(ctx):
        return Reply("请先选定这条走访记录的对象（点选或回复序号），或回复“取消”放弃。")
    chosen: int | None = None
    if (ref := _CASE_REF.match(ctx.text)) is not None:
        chosen = int(ref.group(1))
    elif ctx.text.isdigit() and 1 <= int(ctx.text) <= len(candidates):
        chosen = candidates[int(ctx.text) - 1]
    if chosen is not None:
        case = await CaseworkStore.of(ctx.services.store).case_by_id(chosen, worker.station_id)
        if case is None or chosen not in candidates:
            return Reply("请从列出的对象中选择，或回复正确的姓名。")
        return await _with_case(ctx, worker, draft, case, after)
    return await _resolve_case(ctx, worker, draft, ctx.text, after)


# -- confirmation --------------------------------------------------------------------------------
@router.message(_confirm, state=VisitForm.confirm)
async def confirm(ctx: Context, worker: WorkerRecord) -> Reply:
    store, tz, now = ctx.services.store, local_tz(ctx), ctx.services.clock.now()
    draft = Draft.from_state(ctx.state_data["draft"])
    if draft.questions:
        return await _answer(ctx, worker, draft)
    cases = []
    for case_id in (draft.case_id, *(other[0] for other in draft.others)):
        case = await CaseworkStore.of(store).case_by_id(case_id, worker.station_id, include_closed=True)
        if case is None:
            await ctx.clear_state()
            return Reply("这位服务对象不在您所在的社工站，记录没有保存。")
        cases.append(case)
    closed = [CaseClosedError(c.id, c.name, c.closed_at, c.closed_reason) for c in cases if c.status != "open"]
    if closed:
        return await _closed_meanwhile(ctx, worker, closed, [])
    words = DANGER_WORDS
    danger = draft.danger(words)
    leads = await _lead_targets(ctx, worker) if draft.alarming(words) else LeadTargets([], 0, [])
    saved: list[VisitRecord] = []
    for i, case in enumerate(cases):
        notices: list[tuple[str, str, dict]] = []
        if draft.alarming(words):
            notice = reply_to_payload(
                lead_notice(case.id, case.name, case.village, worker.name, danger, draft.risk, draft.when, tz, now)
            )
            notices = [(channel, chat_id, notice) for channel, chat_id in leads.targets]
        # The first person keeps the message's key (a redelivered confirmation saves nothing twice).
        key = draft.source_key if i == 0 else f"{draft.source_key}#{case.id}"
        try:
            visit, created = await CaseworkStore.of(store).save_visit(
                worker.id, draft.to_visit_draft(words, case.id), key, notices
            )
        except CaseClosedError as closed_now:  # closed between the check above and this save
            return await _closed_meanwhile(ctx, worker, [closed_now], saved)
        if not created:
            await ctx.clear_state()
            return Reply(
                f"这条记录之前已经保存过了（{visit.case_name} {format_day(visit.visited_at, tz)}），没有重复保存。"
            )
        log.info("visit saved", extra={"visit_id": visit.id, "worker_id": worker.id, "alarm": bool(notices)})
        saved.append(visit)
    await ctx.clear_state()
    first = saved[0]
    who = "、".join(v.case_name for v in saved)
    lines = [
        f"已保存 ✅ {who} {format_day(first.visited_at, tz)} {first.mode}走访"
        + (f"（{len(saved)} 条记录）。" if len(saved) > 1 else "。")
    ]
    if draft.alarming(words):
        lines.append(replace(leads, reached=leads.reached * len(saved)).told(worker))
        lines.append("如有生命危险请立即拨打 110 或 120。")
    lines.append("10 分钟内发来的照片或位置会附到这条记录；30 分钟内发送“撤销”可删除。")
    return Reply("\n".join(lines))


async def _closed_meanwhile(
    ctx: Context, worker: WorkerRecord, closed: list[CaseClosedError], saved: list[VisitRecord]
) -> Reply:
    """A case of the report was closed (结案) while it was being written: say when and by whom, and what the
    worker can do. With nothing saved the report stays open, so that 确认 saves it once the case is reopened."""
    store, tz = CaseworkStore.of(ctx.services.store), local_tz(ctx)
    lines = []
    for c in closed:
        who = await store.closed_by(c.case_id, worker.station_id, c.closed_at) if c.closed_at else ""
        when = f"已于 {format_day(c.closed_at, tz)} 结案" if c.closed_at else "已经结案"
        detail = "，".join(x for x in (f"原因：{c.reason}" if c.reason else "", f"操作人：{who}" if who else "") if x)
        lines.append(f"⚠️ {c.name}{when}" + (f"（{detail}）" if detail else "") + "。")
    names = "、".join(c.name for c in closed)
    if saved:
        await ctx.clear_state()
        lines.insert(0, f"已保存 ✅ {'、'.join(v.case_name for v in saved)} 的走访记录；{names} 的没有保存。")
        lines.append(f"如需补记 {names} 结案前的走访，请站长撤销结案后重新发送这条走访。")
        return Reply("\n".join(lines))
    lines.append("这条走访记录没有保存。")
    lines.append(
        "· 如果是结案前做的走访需要补记：请站长发送“撤销结案”（30 分钟内）或请管理员恢复在册，然后回复“确认”保存。"
    )
    lines.append("· 如果记错了人：回复“取消”，再重新发送“走访 姓名 …”。")
    return Reply("\n".join(lines), buttons=[Button("确认"), Button("取消")])


async def _answer(ctx: Context, worker: WorkerRecord, draft: Draft) -> Reply:
    """The answer to the confirmation's open question (who else, the date, the mode, the risk)."""
    if draft.questions[0] == "people":
        rest = replace(draft, questions=draft.questions[1:])
        text = to_simplified(ctx.text).rstrip("。.!！ ")
        if text in YES_EACH:
            return await _add_people(ctx, worker, rest)
        if text.startswith(("只记", "只要", "不用", "不要", "唔使", "否", "不")):
            return await _show_confirmation(ctx, replace(rest, extra_names=[]), note=f"只记录 {draft.case_name}。")
        question, buttons = draft.question()
        return Reply(f"请先回答：{question}", buttons=[*buttons, Button("取消")])
    answered = answer_question(draft, ctx.incoming.text, ctx.services.clock.now(), local_tz(ctx))
    if isinstance(answered, str):
        _question, buttons = draft.question()
        return Reply(answered, buttons=[*buttons, Button("取消")])
    return await _show_confirmation(ctx, answered)


def _has_question(ctx: Context) -> bool:
    return bool(ctx.text) and bool((ctx.state_data or {}).get("draft", {}).get("questions"))


@dataclass(frozen=True)
class LeadTargets:
    """Where a safety notice goes: the chats of the station's leads (other than the reporter) on channels
    this deployment pushes to, and a held copy for each lead no such chat reaches (bound only on the
    console, say), shown with the reply to that lead's next message on any channel."""

    targets: list[tuple[str, str]]
    reached: int  # chats pushed to
    unreached: list[str]  # names of leads no configured channel reaches

    def told(self, worker: WorkerRecord, what: str = "") -> str:
        """What the reporting worker is told: never "已通知" for a lead the notice cannot reach."""
        if not self.targets:
            if worker.is_lead:
                return "⚠️ 本站没有其他站长绑定账号，请按应急流程处理。"
            return "⚠️ 本站还没有站长绑定账号，请直接打电话告诉站长。"
        lines = [f"⚠️ 已通知站长{what}（{self.reached} 条提醒）。"] if self.reached else []
        if self.unreached:
            who = "、".join(self.unreached)
            lines.append(
                f"⚠️ {who} 没有绑定能接收推送的账号，这条提示要等他下次给我发消息时才能看到。"
                "情况紧急请直接打电话告诉站长。"
            )
        return "\n".join(lines)


async def _lead_targets(ctx: Context, worker: WorkerRecord) -> LeadTargets:
    leads = await WorkersStore.of(ctx.services.store).station_leads(worker.station_id)
    pushable = ctx.services.settings.push_channels
    targets: list[tuple[str, str]] = []
    unreached: list[str] = []
    for lead, identities in leads:
        if lead.id == worker.id:
            continue
        reachable = [(channel, chat_id) for channel, chat_id in identities if channel in pushable]
        if reachable:
            targets += reachable
        elif identities:
            targets.append((HELD, f"worker:{lead.id}"))
            unreached.append(lead.name)
    return LeadTargets(targets, len(targets) - len(unreached), unreached)


@router.message(_has_question, lambda ctx: not is_edit(ctx.text), state=VisitForm.confirm)
async def answer(ctx: Context, worker: WorkerRecord) -> Reply:
    if ctx.text in OTHER_COMMANDS or _OTHER_FEATURE.match(ctx.text):
        question, buttons = Draft.from_state(ctx.state_data["draft"]).question()
        again = "待办" if ctx.text.startswith("rmd:") else ctx.text
        return Reply(
            f"这条走访记录还没保存。请先回答：{question}\n或回复“取消”放弃后再发“{again}”。",
            buttons=[*buttons, Button("取消")],
        )
    return await _answer(ctx, worker, Draft.from_state(ctx.state_data["draft"]))


@router.message(lambda ctx: is_edit(ctx.text), state=VisitForm.confirm)
async def edit(ctx: Context, worker: WorkerRecord) -> Reply:
    draft = Draft.from_state(ctx.state_data["draft"])
    changed = apply_edit(draft, ctx.incoming.text, ctx.services.clock.now(), local_tz(ctx))
    if isinstance(changed, str):
        return Reply(changed, buttons=[Button("确认"), Button("取消")])
    return await _show_confirmation(ctx, changed, note="已修改。")


# -- the guided form -----------------------------------------------------------------------------
PROMPTS = {
    "case": "走访哪位服务对象？请输入姓名。",
    "mode": "走访方式？",
    "situation": "看到的情况？（身体、生活、居住等，一两句话即可）",
    "needs": "对象有什么需求？没有请回复“无”。",
    "risk": "走访后的风险等级？",
    "follow_up": "跟进计划？没有请回复“无”。",
}


def _next_step(draft: Draft, done: str) -> str:
    """The step after `done`, skipping ones already answered (the situation answer may have said them)."""
    for step in STEPS[STEPS.index(done) + 1 :]:
        if step == "needs" and draft.needs or step == "risk" and draft.risk or step == "follow_up" and draft.follow_up:
            continue
        return step
    return ""


async def _ask_step(ctx: Context, worker: WorkerRecord, draft: Draft, step: str, note: str = "") -> Reply:
    if not step:
        return await _show_confirmation(ctx, draft, note)
    await ctx.set_state(STEP + step, {"draft": draft.to_state()})
    buttons: list[Button] = []
    if step == "case":
        own = await CaseworkStore.of(ctx.services.store).cases_of_worker(worker.id)
        buttons = [Button(c.name, f"#{c.id}") for c in own[:6]]
    elif step == "mode":
        buttons = [Button(m) for m in MODES]
    elif step == "needs":
        buttons = [Button("无")]
    elif step == "risk":
        buttons = [Button("低"), Button("中"), Button("高")]
    elif step == "follow_up":
        buttons = [Button("下周回访"), Button("下月回访"), Button("无")]
    number = STEPS.index(step) + 1
    head = f"{note}\n" if note else ""
    return Reply(f"{head}（{number}/{len(STEPS)}）{PROMPTS[step]}\n回复“取消”可随时退出。", buttons=buttons)


@router.message(has_text, state=VisitForm.step)
async def guided_step(ctx: Context, worker: WorkerRecord) -> Reply:
    assert ctx.state is not None
    step = VisitForm.step.suffix(ctx.state)
    draft = Draft.from_state(ctx.state_data["draft"])
    text, simple = ctx.incoming.text.strip(), to_simplified(ctx.text)
    if ctx.text in OTHER_COMMANDS or _OTHER_FEATURE.match(ctx.text):
        return Reply(
            f"您正在填写走访记录（第 {STEPS.index(step) + 1} 步）。请先回答，或回复“取消”退出后再发"
            f"“{ctx.text if not ctx.text.startswith('rmd:') else '待办'}”。"
        )
    if step == "case":
        if (ref := _CASE_REF.match(ctx.text)) is not None:
            case = await CaseworkStore.of(ctx.services.store).case_by_id(int(ref.group(1)), worker.station_id)
            if case is None:
                return Reply("本站没有这位服务对象，请输入姓名。")
            return await _with_case(ctx, worker, draft, case, STEP + "mode")
        return await _resolve_case(ctx, worker, draft, simple, after=STEP + "mode")
    if step == "mode":
        mode = simple if simple in MODES else parse_mode(simple)
        if not mode:
            return Reply("请选择走访方式：" + "、".join(MODES), buttons=[Button(m) for m in MODES])
        draft = replace(draft, mode=mode)
    elif step == "situation":
        said = describe(text)
        if said.findings or said.services:
            draft = replace(draft, findings=said.findings, services=said.services)
        else:
            draft = replace(draft, findings=text if not (said.needs or said.risk or said.follow_up) else "")
        draft = replace(
            draft,
            needs=draft.needs or said.needs,
            risk=draft.risk or said.risk,
            follow_up=draft.follow_up or said.follow_up,
        )
    elif step == "needs":
        draft = replace(draft, needs="无" if simple in NONE_WORDS else text)
    elif step == "risk":
        risk = parse_risk(simple)
        if not risk:
            return Reply("请选择风险等级：低、中、高。", buttons=[Button("低"), Button("中"), Button("高")])
        draft = replace(draft, risk=risk)
    elif step == "follow_up":
        draft = replace(draft, follow_up="" if simple in NONE_WORDS else text)
    return await _ask_step(ctx, worker, draft, _next_step(draft, step))


@router.message(Command("confirm", keywords={"确认", "确定", "保存"}))
async def nothing_to_confirm(ctx: Context, worker: WorkerRecord) -> Reply:
    return Reply("现在没有待保存的走访记录。发送“走访”开始新的记录。")


# -- after saving: undo, photos and locations -----------------------------------------------------
@router.message(UNDO)
async def undo(ctx: Context, worker: WorkerRecord) -> Reply:
    store, tz = ctx.services.store, local_tz(ctx)
    last = await CaseworkStore.of(store).last_visit_of_worker(worker.id)
    if last is None:
        return Reply("没有可以撤销的走访记录。")
    what = f"{last.case_name} {format_day(last.visited_at, tz)} 的走访记录"
    if ctx.services.clock.now() - last.created_at > UNDO_WINDOW:
        return Reply(f"{what}保存已超过 30 分钟，不能撤销了。如需更正，请联系站长。")
    report = await CaseworkStore.of(store).visits_of_same_report(last.id, worker.id) or [last]
    for visit in report:  # a report naming several people saved one visit each: undone together
        if not await CaseworkStore.of(store).delete_visit(visit.id, worker.id):
            return Reply("没有可以撤销的走访记录。")
        log.info("visit undone", extra={"visit_id": visit.id, "worker_id": worker.id})
    if len(report) > 1:
        what = f"{'、'.join(v.case_name for v in report)} {format_day(last.visited_at, tz)} 的 {len(report)} 条走访记录"
    told = "（已发给站长的安全提示不会撤回）" if last.danger or last.risk_after == "高" else ""
    return Reply(f"已撤销：{what}已删除{told}。")


def _has_photo_or_place(ctx: Context) -> bool:
    return any(a.kind in ("image", "location") for a in ctx.incoming.attachments)


@router.message(_has_photo_or_place)
async def attach(ctx: Context, worker: WorkerRecord) -> Reply:
    if VisitForm.contains(ctx.state):
        return Reply("请先完成这条走访记录（回复“确认”保存），再发照片或位置。")
    store, now = ctx.services.store, ctx.services.clock.now()
    caption = ctx.incoming.text.strip()  # Telegram keeps a photo's caption as the message text
    visit = None
    for a in ctx.incoming.attachments:
        if a.kind in ("image", "location"):
            visit = await CaseworkStore.of(store).attach_to_recent_visit(
                worker.id,
                a.kind,
                url=a.url,
                latitude=a.latitude,
                longitude=a.longitude,
                label=a.label or caption,
                since=now - ATTACH_WINDOW,
            )
            if visit is None:
                return Reply(
                    "没有附到记录上：照片或位置要在保存走访记录后 10 分钟内发送，才会附到那条记录。"
                    "请先发送“走访 …”记录并确认。"
                )
    assert visit is not None
    kind = "位置" if all(a.kind == "location" for a in ctx.incoming.attachments) else "照片"
    return Reply(
        f"已把{kind}附到 {visit.case_name} {format_day(visit.visited_at, local_tz(ctx))} 的走访记录"
        f"（共 {visit.attachments} 个附件）。"
    )


# -- a report without the word 走访 ----------------------------------------------------------------
_VISIT_WORDS = re.compile(
    r"入户|上门|家访|探望|看望|探访|拜访|回访|走访|访视|电访|致电|打电话|打咗电话|通电话|电话联系|"
    r"视频|去咗|去了|去过|到咗|屋企|家中|家里|见到|见咗|嚟站|来站|到站"
)
_QUESTION = re.compile(r"[？?]\s*$|怎么|怎样|如何|点样|点算|咋|是否|能不能|可不可以|可唔可以|[吗么嘛呢]\s*$")


def _reads_like_a_visit(ctx: Context) -> bool:
    """Visit words and no question, outside any dialog: a worker telling what happened on a visit."""
    text = to_simplified(ctx.text)
    return (
        ctx.state is None
        and len(text) >= 6
        and _VISIT_WORDS.search(text) is not None
        and _QUESTION.search(text) is None
    )


@router.message(_reads_like_a_visit)
async def implicit_report(ctx: Context, worker: WorkerRecord) -> Reply:
    """`今天上午去咗黎秀珍屋企，佢话腰痛`: a person on the station's roster and visit words start a report,
    shown for confirmation like any other; anything else goes on to other handlers (policy questions)."""
    names = await CaseworkStore.of(ctx.services.store).station_case_names(worker.station_id)
    if not Roster.of(names).mentions(to_simplified(ctx.text)):
        raise SkipHandler
    source_key = f"worker:{worker.id}:{ctx.incoming.dedup_key}"
    return await _report(
        ctx, worker, ctx.incoming.text.strip(), source_key, note="按走访记录处理（不是的话回复“取消”）。"
    )


# -- danger mentioned outside a report -------------------------------------------------------------
def _mentions_danger(ctx: Context) -> bool:
    return bool(ctx.text) and bool(DANGER_WORDS.find(ctx.text))


@router.message(_mentions_danger)
async def danger_message(ctx: Context, worker: WorkerRecord) -> Reply | None:
    """`张桂英 今天摔倒了` from a worker: their own case named with a danger word, so the leads are told."""
    store, tz, now = ctx.services.store, local_tz(ctx), ctx.services.clock.now()
    simple = to_simplified(ctx.text)
    named = sorted(
        (c for c in await CaseworkStore.of(store).cases_of_worker(worker.id) if c.name and c.name in simple),
        key=lambda c: len(c.name),
        reverse=True,
    )
    if not named:
        raise SkipHandler  # not about one of their cases: perhaps a policy question
    case, words = named[0], DANGER_WORDS.find(ctx.text)
    notice = lead_notice(case.id, case.name, case.village, worker.name, words, "", now, tz, now)
    leads = await _lead_targets(ctx, worker)
    for channel, chat_id in leads.targets:  # keyed by the message: a redelivery queues nothing twice
        await ctx.services.push(
            channel, chat_id, notice, dedup_key=f"danger:{ctx.incoming.dedup_key}:{channel}:{chat_id}"
        )
    sent = leads.reached
    await store.audit(
        actor(worker),
        "danger.notice",
        target=f"case:{case.id}",
        worker_id=worker.id,
        detail={"words": list(words), "notified": sent},
    )
    log.info("danger notice", extra={"worker_id": worker.id, "case_id": case.id, "notified": sent})
    told = leads.told(worker, f"：{case.name} {'、'.join(words)}")
    return Reply(f"{told}\n如有生命危险请立即拨打 110 或 120。\n记录这次情况请发送：走访 {case.name} …")
