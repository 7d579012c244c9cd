"""The visit report while it is being written: kept in the dialog state, shown for confirmation, edited field
by field, and turned into a `VisitDraft` for saving. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, tzinfo
from typing import Any

from bot.messages import Button, Reply
from bot.pii import mask_id_numbers
from bot.store import VisitDraft
from handlers.casework.visit_parser import (
    FUTURE,
    INVALID,
    MODES,
    SHANGHAI,
    DangerWords,
    ParsedVisit,
    default_danger_words,
    match_time,
    parse_mode,
    parse_risk,
    read_time,
)
from handlers.common.localtime import WEEKDAYS
from knowledge.engine.normalize import to_simplified

EMPTY = "（无）"
CONFIRM_WORDS = {
    "确认",
    "确定",
    "保存",
    "确认保存",
    "对",
    "对的",
    "是",
    "是的",
    "没问题",
    "正确",
    "好",
    "好的",
    "ok",
    "OK",
    "可以",
    "确认无误",
    "/confirm",
}
# Field names a worker may use after 修改, to the Draft attribute.
NOTE_FIELDS = ("findings", "needs", "services", "follow_up")
EDITABLE = {
    "时间": "visited_at",
    "日期": "visited_at",
    "方式": "mode",
    "情况": "findings",
    "发现": "findings",
    "发现情况": "findings",
    "需求": "needs",
    "服务": "services",
    "提供服务": "services",
    "风险": "risk",
    "风险等级": "risk",
    "跟进": "follow_up",
    "跟进计划": "follow_up",
    "计划": "follow_up",
}
_EDIT = re.compile(
    r"^(?:修改|更改|改)\s*("
    + "|".join(sorted(EDITABLE, key=len, reverse=True))
    + r"|对象|姓名|名字)?\s*(?:为|成|改为|改成)?\s*[:：]?\s*"
)
EDIT_HELP = "请发送“修改 项目 新内容”，例如：修改 需求 需要助餐。\n可以改：时间、方式、情况、需求、服务、风险、跟进。"
CONFIRM_BUTTONS = [Button("确认"), Button("修改"), Button("取消")]
DAY_BUTTONS = [Button("今天"), Button("昨天"), Button("前天")]
UNASSESSED_ANSWER = "未评估"
UNASSESSED_WORDS = {"未评估", "没评估", "没有评估", "不评估", "暂不评估", "不清楚", "唔清楚", "未知", "不知道", "唔知"}
PENDING = "❓待回答"


@dataclass
class Draft:
    """A report being written; every field is JSON-friendly so it survives a restart in the dialog state."""

    source_key: str  # the message that started the report: saving twice with it saves once
    visited_at: str  # ISO 8601, aware
    clock_given: bool = True
    case_id: int = 0
    case_name: str = ""
    case_village: str = ""
    mode: str = ""
    findings: str = ""
    needs: str = ""
    services: str = ""
    risk: str = ""
    follow_up: str = ""
    # What the text left open, asked one at a time before 确认 saves (QUESTIONS order): never assumed.
    questions: list[str] = field(default_factory=list)
    date_said: str = ""  # the date as typed, for the question about it
    date_future: bool = False  # the date asked about lies ahead (else it does not exist)
    owner: str = ""  # the colleague the case belongs to: "这是 李敏 负责的对象，确认由你记录？"
    extra_names: list[str] = field(default_factory=list)  # other roster people the text names, not yet asked
    others: list[list[Any]] = field(default_factory=list)  # [case_id, name, village] also recorded
    mode_hint: str = ""  # which modes count for the reminder item being done (`完成 N`)

    @classmethod
    def from_parsed(cls, parsed: ParsedVisit, source_key: str) -> Draft:
        questions = [
            q
            for q, missing in (
                ("date", bool(parsed.date_flag)),
                ("mode", parsed.mode is None),
                ("risk", parsed.risk is None),
            )
            if missing
        ]
        extra = [p for p in parsed.people if p != parsed.name]
        return cls(
            source_key=source_key,
            visited_at=parsed.visited_at.isoformat(),
            clock_given=parsed.clock_given or not parsed.time_given,
            mode=parsed.mode or "",
            findings=parsed.findings,
            needs=parsed.needs,
            services=parsed.services,
            risk=parsed.risk or "",
            follow_up=parsed.follow_up,
            questions=(["people"] if extra else []) + questions,
            date_said=parsed.date_said,
            date_future=parsed.date_flag == FUTURE,
            extra_names=extra,
        )

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Draft:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_state(self) -> dict[str, Any]:
        # The report waits in the dialog state until 确认: ID numbers are masked there already (the case
        # record holds the real one), and the confirmation shows what will be saved.
        state = asdict(self)
        for name in NOTE_FIELDS:
            state[name] = mask_id_numbers(state[name])
        return state

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.visited_at)

    def danger(self, words: DangerWords | None = None) -> tuple[str, ...]:
        text = "\n".join((self.findings, self.needs, self.services, self.follow_up))
        return (words or default_danger_words()).find(text)

    def alarming(self, words: DangerWords | None = None) -> bool:
        """Leads are told at once: a danger word, or risk 高."""
        return self.risk == "高" or bool(self.danger(words))

    def to_visit_draft(self, words: DangerWords | None = None, case_id: int = 0) -> VisitDraft:
        return VisitDraft(
            case_id=case_id or self.case_id,
            visited_at=self.when,
            mode=self.mode,
            findings=self.findings,
            needs=self.needs,
            services=self.services,
            risk_after=self.risk,
            follow_up=self.follow_up,
            danger="、".join(self.danger(words)),
            time_known=self.clock_given,
        )

    def question(self) -> tuple[str, list[Button]]:
        """The first open question and its answer buttons; ("", []) when nothing is left to ask."""
        if not self.questions:
            return "", []
        asked = self.questions[0]
        if asked == "people":
            names = "、".join(self.extra_names)
            return (
                f"这条记录还提到 {names}。要为每一位分别保存一条同样的走访记录吗？",
                [Button("分别保存"), Button(f"只记{self.case_name}")],
            )
        if asked == "date":
            if self.date_future:
                return f"走访时间 {self.date_said} 还没到，请回复实际的走访日期（例如 11月30日、昨天）。", DAY_BUTTONS
            return f"“{self.date_said}”不是有效的日期，请回复实际的走访日期（例如 11月30日、昨天）。", DAY_BUTTONS
        if asked == "mode":
            return "这次是哪种走访方式？" + self.mode_hint, [Button(m) for m in MODES]
        return "走访后的风险等级？", [*(Button(r) for r in ("低", "中", "高")), Button(UNASSESSED_ANSWER)]


def format_time(at: datetime, tz: tzinfo = SHANGHAI, clock_given: bool = True, now: datetime | None = None) -> str:
    """11月28日（周六）17:00; the year only when it is not this year's."""
    local = at.astimezone(tz)
    year = "" if now is None or now.astimezone(tz).year == local.year else f"{local.year}年"
    text = f"{year}{local.month}月{local.day}日（周{WEEKDAYS[local.weekday()]}）"
    return text + (local.strftime("%H:%M") if clock_given else "")


def format_day(at: datetime, tz: tzinfo = SHANGHAI) -> str:
    local = at.astimezone(tz)
    return f"{local.month}月{local.day}日"


def render_confirmation(
    draft: Draft, now: datetime, tz: tzinfo = SHANGHAI, words: DangerWords | None = None, note: str = ""
) -> Reply:
    """The structured record with 确认 / 修改 / 取消."""
    who = "、".join(
        [_who(draft.case_name, draft.case_village), *(_who(name, village) for _id, name, village in draft.others)]
    )
    if len(draft.others):
        who += f"（每位各保存一条，共 {len(draft.others) + 1} 条）"
    when = PENDING if "date" in draft.questions else format_time(draft.when, tz, draft.clock_given, now)
    lines = [note] if note else []
    lines += [
        "请核对走访记录：",
        f"对象：{who}",
        f"时间：{when}",
        f"方式：{draft.mode or PENDING}",
        f"情况：{draft.findings or EMPTY}",
        f"需求：{draft.needs or EMPTY}",
        f"服务：{draft.services or EMPTY}",
        f"风险：{PENDING if 'risk' in draft.questions else draft.risk or UNASSESSED_ANSWER}",
        f"跟进：{draft.follow_up or EMPTY}",
    ]
    danger = draft.danger(words)
    if danger or draft.risk == "高":
        what = "、".join(danger) if danger else "风险高"
        lines.append(f"⚠️ 危险提示：{what}（保存后立即通知站长）")
    if "date" not in draft.questions and (draft.when - now).total_seconds() > 600:
        lines.append("⚠️ 走访时间晚于现在，请核对。")
    question, buttons = draft.question()
    if question:
        left = len(draft.questions)
        lines.append(f"❓ {question}" + (f"（还有 {left - 1} 个问题）" if left > 1 else ""))
        lines.append("回答后再确认保存；“取消”放弃。")
        return Reply("\n".join(lines), buttons=[*buttons, Button("取消")])
    if draft.owner:
        lines.append(
            f"❓ 这是 {draft.owner} 负责的对象，确认由你记录？"
            if draft.owner != NO_OWNER
            else "❓ 这位对象还没有负责社工，确认由你记录？"
        )
    lines.append("回复“确认”保存；“修改 需求 新内容”改一项；“取消”放弃。")
    return Reply("\n".join(lines), buttons=list(CONFIRM_BUTTONS))


NO_OWNER = "（未分配）"


def _who(name: str, village: str) -> str:
    return name + (f"（{village}）" if village else "")


def is_edit(text: str) -> bool:
    return to_simplified(text).lstrip().startswith(("修改", "更改", "改"))


def apply_edit(draft: Draft, text: str, now: datetime, tz: tzinfo = SHANGHAI) -> Draft | str:
    """`修改 需求 需要助餐` applied to the draft, or a short explanation of what was wrong."""
    simple = to_simplified(text.strip())
    m = _EDIT.match(simple)
    if m is None:
        return EDIT_HELP
    label = m.group(1)
    value = (text.strip()[m.end() :] if len(simple) == len(text.strip()) else simple[m.end() :]).strip()
    value_simple = simple[m.end() :].strip()
    if label in ("对象", "姓名", "名字"):
        return "对象不能在这里改：请回复“取消”，再重新发送“走访 姓名 …”。"
    if not label or not value:
        return EDIT_HELP
    attr = EDITABLE[label]
    if attr == "visited_at":
        found = match_time(value_simple, now, tz)
        if found is None or found.length != len(value_simple):
            return "没看懂这个时间。可以这样写：修改 时间 昨天下午3点（或 3月5日、周一上午）。"
        return replace(
            draft,
            visited_at=found.at.isoformat(),
            clock_given=found.clock_given,
            questions=[q for q in draft.questions if q != "date"],
        )
    if attr == "mode":
        mode = value_simple if value_simple in MODES else parse_mode(value_simple)
        if not mode:
            return "方式只能是：" + "、".join(MODES) + "。例如：修改 方式 电话"
        return replace(draft, mode=mode, questions=[q for q in draft.questions if q != "mode"])
    if attr == "risk":
        risk = parse_risk(value_simple)
        if not risk:
            return "风险只能是：高、中、低。例如：修改 风险 中"
        return replace(draft, risk=risk, questions=[q for q in draft.questions if q != "risk"])
    if value_simple in ("清空", "删除", "空"):
        value = ""
    changed = replace(draft)
    setattr(changed, attr, value)  # a text field, by the name the worker used
    return changed


def lead_notice(
    case_id: int,
    case_name: str,
    village: str,
    worker_name: str,
    danger: tuple[str, ...],
    risk: str,
    at: datetime,
    tz: tzinfo = SHANGHAI,
    now: datetime | None = None,
) -> Reply:
    """What a station lead receives when a report or a message mentions danger; one tap shows the case."""
    what = "、".join(danger) if danger else ""
    if risk == "高":
        what = (what + "；" if what else "") + "风险等级：高"
    return Reply(
        "\n".join(
            [
                f"⚠️ 安全提示：{case_name}" + (f"（{village}）" if village else ""),
                f"情况：{what}",
                f"社工：{worker_name}",
                f"时间：{format_time(at, tz, True, now)}",
                "请尽快联系社工了解情况并跟进。",
            ]
        ),
        buttons=[Button(f"查看{case_name}", f"查 #{case_id}")],
    )


YES_EACH = {
    "分别保存",
    "分别记录",
    "每位都记",
    "都记",
    "都保存",
    "每个都记",
    "是",
    "是的",
    "要",
    "好",
    "好的",
    "对",
    "确认",
    "确定",
    "可以",
    "分别",
    "都要",
}


def answer_question(draft: Draft, text: str, now: datetime, tz: tzinfo = SHANGHAI) -> Draft | str:
    """The worker's answer to the draft's first open date, mode or risk question applied, or the question
    asked again with what was wrong. (Who else to record is answered in the dialog: it needs the roster.)"""
    simple = to_simplified(text.strip()).rstrip("。.!！ ")
    asked = draft.questions[0]
    rest = draft.questions[1:]
    if asked == "date":
        found = read_time(simple, now, tz)
        if found is None or found.length != len(simple):
            return "没看懂这个日期。请回复走访日期，例如：11月30日、昨天、周一上午。"
        if found.flag == INVALID:
            return f"“{simple}”不是有效的日期，请再看一下。"
        if found.flag == FUTURE:
            return f"{format_time(found.at, tz, found.clock_given, now)} 还没到，请回复已经走访的日期。"
        return replace(draft, visited_at=found.at.isoformat(), clock_given=found.clock_given, questions=rest)
    if asked == "mode":
        mode = simple if simple in MODES else parse_mode(simple)
        if not mode:
            return "请选择走访方式：" + "、".join(MODES)
        return replace(draft, mode=mode, questions=rest)
    if simple in UNASSESSED_WORDS:
        return replace(draft, risk="", questions=rest)
    risk = parse_risk(simple)
    if not risk:
        return "请选择风险等级：低、中、高；没有评估请回复“未评估”。"
    return replace(draft, risk=risk, questions=rest)
