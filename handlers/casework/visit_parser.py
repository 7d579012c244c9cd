"""One-message visit reports: `走访 张桂英 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访`.

Pure (no I/O, no clock of its own): the caller passes `now` and the names on the worker's roster. Matching
runs on a simplified, width-folded copy of each clause (traditional characters, Cantonese and full-width
punctuation work), while the fields keep the worker's own wording. What the text does not settle is left
open and said so (a missing mode or risk is None, a doubtful date carries a flag, a name not on the roster is
marked as a guess), so that the confirmation asks instead of assuming. Danger words come from
`handlers/casework/data/danger_words.txt`, validated on load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from handlers.casework.visit_names import Roster
from handlers.common.localtime import SHANGHAI
from knowledge.engine.normalize import to_simplified

DANGER_FILE = Path(__file__).resolve().parent / "data" / "danger_words.txt"

MODES = ("入户", "电话", "视频", "到站")
RISKS = ("高", "中", "低")
INVALID, FUTURE = "invalid", "future"  # date flags: the confirmation must ask
# A time this far ahead of the message is a typo or a plan, not a visit.
FUTURE_SLACK = timedelta(minutes=10)
_MODE_WORDS = {
    "入户走访": "入户",
    "入户": "入户",
    "上门": "入户",
    "家访": "入户",
    "登门": "入户",
    "入戶": "入户",
    "电话走访": "电话",
    "电话": "电话",
    "电访": "电话",
    "打电话": "电话",
    "致电": "电话",
    "通电话": "电话",
    "打了电话": "电话",
    "打咗电话": "电话",
    "打过电话": "电话",
    "通了电话": "电话",
    "电联": "电话",
    "视频通话": "视频",
    "微信视频": "视频",
    "视频": "视频",
    "视讯": "视频",
    "视像": "视频",
    "来站": "到站",
    "到站": "到站",
    "来访": "到站",
    "站内": "到站",
    "到社工站": "到站",
    "来社工站": "到站",
    "嚟站": "到站",
    "嚟社工站": "到站",
    "嚟咗社工站": "到站",
    "来了社工站": "到站",
}
_MODE = re.compile("|".join(sorted(map(re.escape, _MODE_WORDS), key=len, reverse=True)))

# -- time --------------------------------------------------------------------------------------
_N = r"\d{1,2}|[零一二两三四五六七八九十]{1,3}"
_DAY = {
    "今天": (0, ""),
    "今日": (0, ""),
    "今儿": (0, ""),
    "今早": (0, "早上"),
    "今朝": (0, "早上"),
    "今晚": (0, "晚上"),
    "昨天": (1, ""),
    "昨日": (1, ""),
    "琴日": (1, ""),
    "寻日": (1, ""),
    "㖊日": (1, ""),
    "昨早": (1, "早上"),
    "昨晚": (1, "晚上"),
    "琴晚": (1, "晚上"),
    "寻晚": (1, "晚上"),
    "㖊晚": (1, "晚上"),
    "前天": (2, ""),
    "前日": (2, ""),
    "前晚": (2, "晚上"),
    "大前天": (3, ""),
}
# Default hours of the parts of the day, Mandarin and Cantonese (朝早, 上昼, 晏昼, 下昼, 挨晚, 夜晚).
_PERIOD_HOUR = {
    "凌晨": 5,
    "清晨": 7,
    "早上": 8,
    "早晨": 8,
    "朝早": 8,
    "上午": 9,
    "上昼": 9,
    "中午": 12,
    "晏昼": 13,
    "午后": 14,
    "下午": 15,
    "下昼": 15,
    "傍晚": 18,
    "挨晚": 18,
    "黄昏": 18,
    "晚上": 19,
    "夜晚": 19,
    "晚头": 19,
    "夜里": 21,
    "夜间": 21,
}
_AFTERNOON = {"午后", "下午", "下昼", "晏昼", "傍晚", "挨晚", "黄昏", "晚上", "夜晚", "晚头", "夜里", "夜间"}
_TIME = re.compile(
    r"(?:(?P<day>" + "|".join(sorted(_DAY, key=len, reverse=True)) + ")"
    r"|(?P<last>上个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
    rf"|(?:(?P<y>\d{{4}})年)?(?P<m>{_N})月(?P<d>{_N})[日号]?"
    r"|(?P<m2>\d{1,2})[/.](?P<d2>\d{1,2})(?![\d.])"
    rf"|(?P<d3>{_N})[日号](?!楼|房|床|线|车|院|门|铺|档|仔)"
    r")?\s*"
    r"(?P<period>" + "|".join(_PERIOD_HOUR) + r")?\s*"
    rf"(?:(?P<h>{_N})\s*(?:[点时](?:(?P<half>半)|(?P<quarter>一刻|三刻)|(?P<min>{_N})分?)?"
    r"|[:：](?P<min2>\d{2}))(?:钟)?(?:左右|前后|许)?)?"
)
_WEEKDAY = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_CN_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGIT.get(tens, 1) if tens else 1) * 10 + (_CN_DIGIT.get(ones, 0) if ones else 0)
    return _CN_DIGIT.get(text, -1) if len(text) == 1 else -1


@dataclass(frozen=True, slots=True)
class TimeMatch:
    length: int  # characters of the (simplified) text it used
    at: datetime  # aware, in the caller's time zone; `now` when flag is INVALID
    clock_given: bool  # an hour or a part of the day was said, not only a day
    flag: str = ""  # "", INVALID (11月31日) or FUTURE (later than now): to be asked, never used silently


def read_time(text: str, now: datetime, tz: tzinfo = SHANGHAI) -> TimeMatch | None:
    """A time expression at the start of `text` (simplified), resolved against `now`, or None if there is
    none. A date that does not exist or lies ahead is returned with a flag rather than replaced."""
    m = _TIME.match(text)
    if m is None or not m.group(0).strip():
        return None
    g = m.groupdict()
    length = len(m.group(0).rstrip())
    local = now.astimezone(tz)
    today = local.date()
    period = g["period"] or ""
    day: date | None = today
    if g["day"]:
        back, implied = _DAY[g["day"]]
        day, period = today - timedelta(days=back), period or implied
    elif g["wd"]:
        target = _WEEKDAY[g["wd"]]
        if g["last"]:
            day = today - timedelta(days=today.weekday() + 7 - target)
        else:
            day = today - timedelta(days=(today.weekday() - target) % 7)
    elif g["m"] or g["m2"]:
        month, dom = _number(g["m"] or g["m2"]), _number(g["d"] or g["d2"])
        day = _dated(int(g["y"]), month, dom) if g["y"] else _nearest_year(today, month, dom)
    elif g["d3"]:
        day = _latest_day_of_month(today, _number(g["d3"]))
    said_day = bool(g["day"] or g["wd"] or g["m"] or g["m2"] or g["d3"])
    if day is None:
        return TimeMatch(length, local.replace(second=0, microsecond=0), False, INVALID)
    hour = minute = None
    if g["h"]:
        hour = _number(g["h"])
        if g["half"]:
            minute = 30
        elif g["quarter"]:
            minute = 15 if g["quarter"] == "一刻" else 45
        else:
            minute = _number(g["min"] or g["min2"]) if (g["min"] or g["min2"]) else 0
        # "3点" without a part of the day is the afternoon: visits happen in working hours.
        if period in _AFTERNOON and hour < 12 or period == "中午" and hour < 6 or not period and 1 <= hour <= 6:
            hour += 12
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            return None
    elif period:
        hour, minute = _PERIOD_HOUR[period], 0
    if hour is None:
        if not said_day:
            return None
        # Date only, today included (`今天` says the day, not the hour): noon keeps the day in any offset;
        # today's is never later than now, so it counts among the visits made so far.
        at = datetime.combine(day, time(12, 0), tzinfo=tz)
        if day == today:
            at = min(at, local.replace(second=0, microsecond=0))
        return TimeMatch(length, at, False, FUTURE if day > today else "")
    assert minute is not None
    at = datetime.combine(day, time(hour, minute), tzinfo=tz)
    return TimeMatch(length, at, True, FUTURE if at - local > FUTURE_SLACK else "")


def match_time(text: str, now: datetime, tz: tzinfo = SHANGHAI) -> TimeMatch | None:
    """Like `read_time`, but a date that does not exist is no time at all (for `修改 时间`)."""
    found = read_time(text, now, tz)
    return None if found is None or found.flag == INVALID else found


def _dated(year: int, month: int, dom: int) -> date | None:
    try:
        return date(year, month, dom)
    except ValueError:
        return None


def _nearest_year(today: date, month: int, dom: int) -> date | None:
    """`12月20日` said on 5 January is last December's; said on 2 December it is ahead (flagged), not last
    year's: of this year's and last year's readings, the nearer one."""
    this = _dated(today.year, month, dom)
    last = _dated(today.year - 1, month, dom)
    if this is None or this <= today:
        return this
    if last is not None and today - last < this - today:
        return last
    return this


def _latest_day_of_month(today: date, dom: int) -> date | None:
    """`3号`: the latest 3rd that is not after today; `31号` skips months without a 31st."""
    if not 1 <= dom <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(13):
        found = _dated(year, month, dom)
        if found is not None and found <= today:
            return found
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return None


# -- risk, clause kinds -------------------------------------------------------------------------
_RISK = re.compile(
    r"(?<!降)(?P<a>较高|偏高|较低|偏低|中等|高|中|低)(?:度)?风险"
    r"|风险(?:等级|级别|评估|程度)?(?:为|是|属于?|定为|[:：])?\s*(?:较|偏|很|比较|仍|仍然|依然|已|有点)?"
    r"(?P<b>高|中等?|低|大|小)"
    r"|(?P<c>高危|无风险|没有风险|没风险|无明显风险|暂无风险|冇风险|冇乜风险|风险唔高|风险唔大)"
)
_RISK_LEVEL = {
    "高": "高",
    "较高": "高",
    "偏高": "高",
    "大": "高",
    "高危": "高",
    "中": "中",
    "中等": "中",
    "低": "低",
    "较低": "低",
    "偏低": "低",
    "小": "低",
    "无风险": "低",
    "没有风险": "低",
    "没风险": "低",
    "无明显风险": "低",
    "暂无风险": "低",
    "冇风险": "低",
    "冇乜风险": "低",
    "风险唔高": "低",
    "风险唔大": "低",
}
_RISK_RANK = {"": 0, "低": 1, "中": 2, "高": 3}
_RISK_LEFTOVER = re.compile(r"(?:评估|评定|判断|初步|目前|现|仍|属于?|为|是|定为|等级|级别|整体|总体|综合)*")

# Plans. Frequencies (每周, 定期) are not: `儿子每周来一次` is a finding, `希望定期上门` a need.
_FOLLOW_UP = re.compile(
    r"回访|跟进|复访|随访|再访|再去|再来|再嚟|再上门|再打|再联系|再约|下周|下星期|下礼拜|下个礼拜|下个星期|"
    r"下次|下回|下个?月|明天|听日|后天|后日|过几天|过两天|过几日|过两日|持续关注|继续关注|跟踪|转介|"
    r"(?<!预)约好|(?<!预)约咗|半年后|出院后|(?:这|本)周内|这个?星期内|(?:今个|呢个)礼拜内|"
    r"(?:周|星期|礼拜)[一二三四五六日天](?:再|上门|去|来|嚟|陪|回访|电话)"
)
# Someone's words are a finding even when they mention next week: `儿子说下周接老人去广州`.
_SPEAKER = re.compile(r"说|(?<!电)话|讲(?!解)")
_PLAN = re.compile(r"再|回访|跟进|上门|复访|随访|陪")  # ...unless it is the worker's plan: `说没事，下次再聊`
_NEEDS = re.compile(
    r"需要|需求|希望|想要|想让|想申请|想办|要求|急需|缺少|缺乏|盼望|期望|期待|诉求|求助|要申请|"
    r"想(?:给|帮|有|揾|换|装|去|找|学|了解|报名|社工|请|叫|同|买|住|转)"
)
_SERVICES = re.compile(
    r"提供|送(?:了|咗|去|来|上|给|俾|米|油|面|饭|物资|慰问)|协助|帮(?:忙|手|佢|她|他|其|老人|助)|"
    r"帮.{0,8}?(?:办|申请|买|领|缴|联系|预约|打扫|清洁|理发|修|挂号|拿)|代(?:办|购|买|缴|领)|"
    r"陪同|链接|对接|发放|转交|办理|已联系|联系了|联系咗|已通知|通知了|已告知|告知|指导|讲解|宣传|慰问|"
    r"[量测].{0,2}血压|申请了|申请咗|报咗|报了名|预约了|预约咗|已预约|上报|劝咗|已劝|叫咗|报警|报了警"
)
# A clause that starts with 已(经) and names an action is what the worker did, even if it mentions a need.
_DONE = re.compile(
    r"^(?:已经|已)(?:同|跟|和|向|通知|联系|报|帮|协助|讲解|告知|安排|转介|申请|预约|拍照|上报|叫|登记|建议)"
)
_LABELS = {
    "情况": "findings",
    "现况": "findings",
    "发现": "findings",
    "基本情况": "findings",
    "需求": "needs",
    "服务": "services",
    "提供服务": "services",
    "风险": "risk",
    "风险等级": "risk",
    "跟进": "follow_up",
    "跟进计划": "follow_up",
    "计划": "follow_up",
}
_LABEL = re.compile("^(" + "|".join(sorted(_LABELS, key=len, reverse=True)) + r")\s*[:：]\s*")
# What is left of a clause once the mode or time is taken out and that says nothing by itself.
_FILLER = re.compile(
    r"^(?:了|过|去|咗|已|已经|进行|开展)*(?:看望|探望|走访|慰问|拜访|访视|回访|了解情况|联系|联络|沟通)?"
    r"(?:了|过|咗|一下|一次)*$"
)
_TITLES = r"阿姨|阿婆|阿公|阿伯|婆婆|爷爷|奶奶|伯伯|叔叔|大爷|大妈|大娘|老人家|老人|老伯|伯|婆|叔|姨"
_NAME_SUFFIX = re.compile(rf"(?:{_TITLES})$")
_TITLE = re.compile(_TITLES)
_NAME_PREFIX = re.compile(r"^(?:了|给|对|去)")
# Words between the head's parts: who went, how, to whom (`今天上午去咗黎秀珍屋企`, `电话联系了蔡文辉`).
_HEAD_WORD = re.compile(
    r"我们|我哋|我|头先|啱啱|刚才|刚刚|然后|跟住|又去埋|又去咗|又去了|又去|过咗去|过了去|过去|行咗去|去咗|去了|去到|去|"
    r"到咗|到了|到|"
    r"探望了|探望咗|探望|探咗|探了|探|睇咗|睇|看望了|看望|看了|拜访了|拜访|走访了|走访|访视|"
    r"联系了|联系咗|联系上|联系|致电|打给|打俾|俾|给|跟|同|和|与|及|、|埋|又|再|上门"
)
# Form-style labels and tags in the head: `对象：张桂英；方式：入户`, `【走访】`, `蔡文辉（东村）`.
_HEAD_LABEL = re.compile(r"(?:走访|服务)?(?:对象|姓名|方式|时间|日期)\s*[:：]|[【\[(（][^】\])）]{0,10}[】\])）]")
_GOING = re.compile(r"去|到|上门")  # ... to someone's home: a home visit
_VISIT_VERB = re.compile(
    r"(?:入户)?(?:走访|探望|看望|拜访|回访|访视)(?:了|咗|过)?|(?:联系|联络)(?:了|咗|上)|了一下|一下|了(?!解)|咗"
)
_HOME = re.compile(r"(?:嘅|的)?(?:屋企度|屋企|家里|家中|住处|家|度)")
_HEAD_KEY = re.compile(
    _MODE.pattern + r"|今天|昨天|前天|今早|今晚|昨晚|上午|下午|中午|晚上|早上|周[一二三四五六日天]|"
    r"星期|礼拜|\d{1,2}月|\d{1,2}[/.]\d|屋企|家里|家中|[和同、佢说话]"
)
_SEPARATORS = re.compile(r"[，,。；;！!？?\n\r]+")
_SPACES = re.compile(r"\s+")
_TIME_GAP = re.compile(
    r"(?<=[天日早晚午上点时\d月号昼朝])\s+(?=\d|[一二两三四五六七八九十]{1,3}[点时月]|凌晨|早上|上午|中午|"
    r"下午|傍晚|晚上|上昼|晏昼|下昼|朝早|夜晚|挨晚|半|[点时:：])"
)
# Dictated text has no punctuation: a long clause is cut before the words that start another field.
_WANTS = r"想(?:要|让|给|帮|有|揾|换|装|去|找|学|了解|报名|申请|办|请|叫)"
_CUE = re.compile(
    r"(?P<n>(?:妈妈|爸爸|家属|家人|老人|佢|她|他|孩子|女儿|儿子|个仔|个女)?(?:话|说)?"
    r"(?:(?:没什么|没有其他|没其他|没有|冇乜|冇咩|冇其他|唔|不)?需要|(?:无特殊|无新|无|没有|没|冇乜|冇咩|冇)需求"
    rf"|需求[:：是为]|希望|{_WANTS}|要申请|急需))"
    r"|(?P<s>已经|已联系|已帮|已协助|已通知|已讲解|已告知|已报|我哋帮|帮佢|帮她|帮他|帮忙|协助|提供|送了|送咗)"
    r"|(?P<f>持续跟进|继续跟进|持续关注|继续关注|下个?礼拜|下个?星期|下周|下个?月|下次|下回|听日|明天|后日|后天"
    r"|过两[天日]|过几[天日]|出院后|(?:今晚|晚上|下午|上午|听朝|明早|稍后|迟啲)再(?:打|去|来|嚟|上门|联系|约))"
    r"|(?P<r>[高中低]风险|风险)"
)
LONG_CLAUSE = 16
SHORT_CLAUSE = 8
NAME_REACH = 6  # a roster name this close after a time word means the time starts the report
_DONE_SOON = re.compile(r".{0,6}?[了咗]")  # `…帮她申请了…`: help given, not needed
MIN_PIECE = 3


# -- danger words ---------------------------------------------------------------------------------
class DangerWordsError(ValueError):
    """The danger-word file has a bad line; the message names the file and the line."""


_NEGATION = re.compile(
    r"(?:没有|没|未|无|否认|排除|未见|未发现|没发现|不再|不会|防止|预防|避免|小心|注意|谨防|以防|防范|防|"
    r"冇|唔会|唔|未曾)(?:再|过|明显|任何|发生|出现|有|被|俾人|畀人)?$"
)
# `*` inside a danger word: up to this many characters of one clause (`被*打` finds 被护工打, not 被子…打针).
_GAP = r"[^\s，,。.；;！!？?：:、]{0,4}?"
_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]+(?:\*[\u4e00-\u9fffA-Za-z0-9]+)*")


def _word_pattern(word: str) -> str:
    return _GAP.join(map(re.escape, word.split("*")))


@dataclass(frozen=True)
class DangerWords:
    """Danger words (`*` = a short gap) and exceptions: a mention that lies in an exception (打针, 打佢电话,
    有冇饭食) is not danger."""

    words: tuple[str, ...]
    exceptions: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    exception_pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, words: Iterable[str], exceptions: Iterable[str] = ()) -> DangerWords:
        unique = tuple(dict.fromkeys(words))
        unusual = tuple(dict.fromkeys(exceptions))
        return cls(unique, unusual, _alternation(unique), _alternation(unusual))

    def find(self, text: str) -> tuple[str, ...]:
        """Danger mentions in `text` (any script) as written (simplified), in order of first mention, skipping
        negated mentions and those inside an exception."""
        if self.pattern is None or not text:
            return ()
        simple = to_simplified(text)
        spared = [m.span() for m in self.exception_pattern.finditer(simple)] if self.exception_pattern else []
        found: dict[str, None] = {}
        for m in self.pattern.finditer(simple):
            if any(start < m.end() and m.start() < end for start, end in spared):
                continue
            if not _NEGATION.search(simple[max(0, m.start() - 6) : m.start()]):
                found[m.group(0)] = None
        return tuple(found)


def _alternation(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(
        "|".join(_word_pattern(w) for w in sorted(words, key=lambda w: len(w.replace("*", "")), reverse=True))
    )


def load_danger_words(path: Path = DANGER_FILE) -> DangerWords:
    """The file: words separated by spaces, `#` comments, `*` for a short gap, `!` before an exception."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DangerWordsError(f"{path}: 不是 UTF-8 编码的文本文件 ({exc.reason})") from exc
    words: dict[str, int] = {}
    exceptions: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        for entry in line.split():
            exception = entry.startswith("!")
            word = entry[1:] if exception else entry
            where = f"{path}:{number}"
            if not _WORD.fullmatch(word) or (exception and "*" in word):
                raise DangerWordsError(
                    f"{where}: 危险词只能包含汉字、字母和数字（“*”只能在词中间，“!”只能在例外词开头）：{entry!r}"
                )
            if not 2 <= len(word.replace("*", "")) <= 12:
                raise DangerWordsError(f"{where}: 危险词应为 2 到 12 个字，实际为 {word!r}")
            if to_simplified(word) != word:
                raise DangerWordsError(f"{where}: 请用简体字书写 {word!r}（应为 {to_simplified(word)!r}）")
            seen = exceptions if exception else words
            if word in seen:
                raise DangerWordsError(f"{where}: {word!r} 已在第 {seen[word]} 行出现")
            seen[word] = number
    if not words:
        raise DangerWordsError(f"{path}: 没有任何危险词")
    found = DangerWords.of(words)
    parts = {part for word in words if "*" in word for part in word.split("*")}
    for word, number in exceptions.items():
        if not (found.pattern and found.pattern.search(word)) and not any(part in word for part in parts):
            raise DangerWordsError(f"{path}:{number}: 例外词 {word!r} 不包含任何危险词，不需要列出")
    return DangerWords.of(words, exceptions)


@lru_cache(maxsize=1)
def default_danger_words() -> DangerWords:
    return load_danger_words()


# -- the report -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParsedVisit:
    name: str  # the person the report starts with, honorifics removed ("" when none); see name_guessed
    mode: str | None  # 入户 | 电话 | 视频 | 到站; None when not said (ask, never assume)
    visited_at: datetime  # now when no time was said or the date said is invalid (see date_flag)
    time_given: bool  # a day or time was said
    clock_given: bool  # an hour or part of the day was said; False with time_given: the visit has a date only
    findings: str
    needs: str
    services: str
    risk: str | None  # 高 | 中 | 低; None when not said (ask)
    follow_up: str
    danger: tuple[str, ...]
    people: tuple[str, ...] = ()  # roster names mentioned, the head's first, in order
    name_guessed: bool = False  # `name` is not on the roster: cut from the text by position, to be confirmed
    suggestions: tuple[tuple[str, str], ...] = ()  # (as typed, roster name) near misses: "是不是 陈桂英？"
    date_flag: str = ""  # "" | INVALID | FUTURE
    date_said: str = ""  # the time words as typed (simplified), for the question

    @property
    def date_only(self) -> bool:
        return self.time_given and not self.clock_given


def parse_mode(text: str) -> str:
    """`电访` → 电话; "" when the text names no mode."""
    m = _MODE.search(to_simplified(text))
    return _MODE_WORDS[m.group(0)] if m else ""


def parse_risk(text: str) -> str:
    """`风险较高` → 高; a bare 高/中/低 also counts (answers to the risk question)."""
    simple = to_simplified(text).strip()
    if simple in ("高", "中", "低"):
        return simple
    if simple in ("中等", "一般"):
        return "中"
    best = ""
    for m in _RISK.finditer(simple):
        level = _RISK_LEVEL[m.group("a") or m.group("b") or m.group("c")]
        best = level if _RISK_RANK[level] > _RISK_RANK[best] else best
    return best


def _cut(orig: str, simple: str, n: int) -> tuple[str, str]:
    """Drop the first `n` simplified characters; the original keeps step when simplification kept lengths."""
    if len(orig) == len(simple):
        return orig[n:].strip(), simple[n:].strip()
    return simple[n:].strip(), simple[n:].strip()


def _segments(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for clause in _SEPARATORS.split(body):
        for piece in _SPACES.split(clause.strip()):
            if piece:
                out.extend(_spoken_pieces(piece, to_simplified(piece)))
    return out


def _spoken_pieces(orig: str, simple: str) -> list[tuple[str, str]]:
    """A long clause without punctuation (dictated) cut before the words that start another field:
    `…腿脚不便需要助餐低风险下周电话回访` → …腿脚不便 / 需要助餐 / 低风险 / 下周电话回访."""
    if len(simple) < SHORT_CLAUSE:
        return [(orig, simple)]
    cuts: list[int] = []
    last, kind = 0, ""
    for m in _CUE.finditer(simple):
        cue = m.lastgroup or ""
        if m.start() - last < MIN_PIECE or len(simple) - m.start() < 2:
            continue
        if cue != "f" and len(simple) < LONG_CLAUSE:  # a short clause is cut only before a plan
            continue
        if cue == "s" and kind == "n" and not m.group(0).startswith("已") and not _DONE_SOON.match(simple, m.end()):
            continue  # `需要有人帮忙`: the help is what is needed
        if cue == "f" and _reported(simple, last, m.start()):  # `老人说明天…`: someone's words
            continue
        cuts.append(m.start())
        last, kind = m.start(), cue
    if not cuts:
        return [(orig, simple)]
    same = len(orig) == len(simple)
    bounds = [0, *cuts, len(simple)]
    return [((orig if same else simple)[a:b], simple[a:b]) for a, b in pairwise(bounds)]


def _reported(simple: str, start: int, cue: int) -> bool:
    """The time word at `cue` is in someone's words (`儿子说下周接老人`), not a plan of the worker's."""
    return _SPEAKER.search(simple, start, cue) is not None and _PLAN.search(simple, cue, cue + 8) is None


def _collapse_time_spaces(text: str) -> str:
    """`今天 下午 3 点` → `今天下午3点`, so that a time split by spaces is read as one."""
    return _TIME_GAP.sub("", text)


@dataclass
class _Head:
    """What the start of a report says: who, when, how."""

    roster: Roster
    now: datetime
    tz: tzinfo
    people: list[str] = field(default_factory=list)
    name: str = ""
    guessed: bool = False
    suggestions: list[tuple[str, str]] = field(default_factory=list)
    when: TimeMatch | None = None
    when_said: str = ""
    mode: str | None = None
    went: bool = False  # 去/到/上门 before a name: 屋企 after it makes the visit a home visit

    def take(self, orig: str, simple: str, first_person_segment: bool) -> tuple[str, str, bool]:
        """Consume head words at the start of a segment; returns what is left and whether a person was
        named in it."""
        named = False
        while simple:
            own = named or first_person_segment  # the segment that names the person: all of it is head
            if name := self.roster.at(simple):
                orig, simple = self._person(orig, simple, name)
                named = True
            elif (label := _HEAD_LABEL.match(simple)) is not None:
                orig, simple = _cut(orig, simple, label.end())
            elif (
                self.when is None
                and (t := read_time(simple, self.now, self.tz)) is not None
                and not self._surname_not_weekday(simple, t)
                and (own or self._head_goes_on(simple[t.length :]))
            ):
                self.when, self.when_said = t, simple[: t.length]
                orig, simple = _cut(orig, simple, t.length)
            elif (m := _MODE.match(simple)) is not None and (
                self.mode is None or own and _MODE_WORDS[m.group(0)] == self.mode
            ):
                self.mode = self.mode or _MODE_WORDS[m.group(0)]
                self.went = self.went or self.mode == "入户"
                orig, simple = _cut(orig, simple, m.end())
            elif own and (v := _VISIT_VERB.match(simple)) is not None:  # 电话联系了, 入户走访
                orig, simple = _cut(orig, simple, v.end())
            elif (n := self._words_before_person(simple)) and (
                self.roster.at(simple, n)
                or not (self.people or self.name)
                and (not self.roster.mentions(simple) or self._leads_on(simple[n:]))
            ):
                self.went = self.went or bool(_GOING.search(simple[:n]))
                orig, simple = _cut(orig, simple, n)
            else:
                break
        return orig, simple, named

    def _head_goes_on(self, rest: str) -> bool:
        """A time starts the head only if the head goes on after it: `今天孩子生日` is a finding."""
        rest = rest.strip()
        return (
            not rest
            or _MODE.match(rest) is not None
            or _HEAD_WORD.match(rest) is not None
            or any(self.roster.at(rest, n) for n in range(min(len(rest), NAME_REACH)))
            or _FILLER.fullmatch(rest) is not None
        )

    def _leads_on(self, rest: str) -> bool:
        """`我今天去了…`: a time or a mode follows, so the words before it belong to the head."""
        return read_time(rest, self.now, self.tz) is not None or _MODE.match(rest) is not None

    def _words_before_person(self, simple: str) -> int:
        n = 0
        while (m := _HEAD_WORD.match(simple, n)) is not None and m.end() > n:
            n = m.end()
            if self.roster.at(simple, n):
                break
        return n

    def _surname_not_weekday(self, simple: str, t: TimeMatch) -> bool:
        """周一平, 周五妹 (not on the roster): a surname, not a weekday."""
        return (
            not self.people
            and not self.name
            and simple[0] == "周"
            and t.length == 2
            and 1 <= len(simple) - 2 <= 2
            and not _HEAD_KEY.match(simple, 2)
        )

    def _person(self, orig: str, simple: str, name: str) -> tuple[str, str]:
        if name not in self.people:
            self.people.append(name)
        self.name = self.name or name
        n = len(name)
        if (title := _TITLE.match(simple, n)) is not None:  # 张桂英阿姨
            n = title.end()
        if self.went and (home := _HOME.match(simple, n)) is not None:  # 去咗黎秀珍屋企
            n = home.end()
            self.mode = self.mode or "入户"
        return _cut(orig, simple, n)

    def guess(self, orig: str, simple: str) -> tuple[str, str]:
        """No roster name at the start: a near miss (suggested, not replaced) or the name guessed by position."""
        if len(simple) > 2 and (p := _NAME_PREFIX.match(simple)) is not None:
            orig, simple = _cut(orig, simple, p.end())
        typed, close = self.roster.near(simple)
        if typed:
            self.name, n = typed, len(typed)
            self.suggestions.extend((typed, name) for name in close)
        else:
            n = _guessed_length(simple)
            name = simple[:n]
            if len(plain := _NAME_SUFFIX.sub("", name)) >= 2:
                name = plain
            self.name = name
        self.guessed = True
        if (title := _TITLE.match(simple, n)) is not None:
            n = title.end()
        if self.went and (home := _HOME.match(simple, n)) is not None:
            n = home.end()
            self.mode = self.mode or "入户"
        return _cut(orig, simple, n)


def _guessed_length(simple: str) -> int:
    if (key := _HEAD_KEY.search(simple, 2)) is not None:
        return min(key.start(), 4)
    return len(simple) if len(simple) <= 4 else 3


def parse_visit(
    body: str, now: datetime, tz: tzinfo = SHANGHAI, danger: DangerWords | None = None, known_names: Iterable[str] = ()
) -> ParsedVisit:
    """Parse the text after the `走访` command. `known_names` are the names on the worker's roster: they are
    found wherever they stand (`今天上午去咗黎秀珍屋企`, `电话联系了蔡文辉`), several of them are all
    returned, and without them the name is guessed by position and marked as a guess."""
    roster = Roster.of(known_names)
    segs = _segments(_collapse_time_spaces(body))
    head = _Head(roster, now, tz)
    i = 0
    person_segment = -1
    while i < len(segs):
        orig, simple = segs[i]
        orig, simple, named = head.take(orig, simple, i == person_segment)
        if named:
            person_segment = i
        if not simple or _FILLER.fullmatch(simple):
            i += 1
        elif not head.name and (inside := roster.mentions(simple)):
            head.people.append(inside[0])  # `同事反映张桂英今日跌倒`: the whole clause is what was said
            head.name = inside[0]
            segs[i] = (orig, simple)
            break
        elif not head.name:
            orig, simple = head.guess(orig, simple)
            person_segment = i
            if simple:
                segs[i] = (orig, simple)
            else:
                i += 1
        else:
            segs[i] = (orig, simple)
            break
    said = _classify(segs[i:], head.mode)
    mentioned = roster.mentions(to_simplified(body))
    people = tuple(dict.fromkeys([*head.people, *mentioned]))
    when = head.when
    usable = when is not None and when.flag != INVALID
    words = (danger or default_danger_words()).find(body)
    return ParsedVisit(
        name=head.name,
        mode=said.mode or None,
        visited_at=when.at if when and usable else now.astimezone(tz),
        time_given=when is not None,
        clock_given=bool(when and usable and when.clock_given),
        findings=said.findings,
        needs=said.needs,
        services=said.services,
        risk=said.risk or None,
        follow_up=said.follow_up,
        danger=words,
        people=people,
        name_guessed=head.guessed,
        suggestions=tuple(head.suggestions),
        date_flag=when.flag if when else "",
        date_said=head.when_said,
    )


@dataclass(frozen=True, slots=True)
class Description:
    """Descriptive clauses sorted into the record's fields."""

    findings: str = ""
    needs: str = ""
    services: str = ""
    risk: str = ""
    follow_up: str = ""
    mode: str = ""


def describe(text: str) -> Description:
    """Sort free text (the guided form's "situation" answer) into findings, needs, services, risk, follow-up."""
    return _classify(_segments(text), None)


def _kind(simple: str) -> str:
    if simple.startswith(("已", "已经")) and (_SERVICES.search(simple) or _DONE.match(simple)):
        return "services"
    if (f := _FOLLOW_UP.search(simple)) is not None and not _reported(simple, 0, f.start()):
        return "follow_up"
    if _NEEDS.search(simple):
        return "needs"
    if (s := _SERVICES.search(simple)) is not None and not _SPEAKER.search(simple, 0, s.start()):
        return "services"
    return "findings"


def _classify(segs: list[tuple[str, str]], mode: str | None) -> Description:
    fields: dict[str, list[str]] = {"findings": [], "needs": [], "services": [], "follow_up": []}
    risk = ""
    label = ""  # a field named on its own (`需求 没有`, dictated) applies to what follows
    for orig, simple in segs:
        if simple in _LABELS:
            label = _LABELS[simple]
            continue
        if (m := _LABEL.match(simple)) is not None:
            label = _LABELS[m.group(1)]
            orig, simple = _cut(orig, simple, m.end())
            if not simple:
                continue
        if label == "risk":
            level = parse_risk(simple)
            risk = level if _RISK_RANK[level] > _RISK_RANK[risk] else risk
            label = ""
            continue
        if (r := _RISK.search(simple)) is not None:
            level = parse_risk(simple)
            risk = level if _RISK_RANK[level] > _RISK_RANK[risk] else risk
            left_s = simple[: r.start()] + simple[r.end() :]
            left_o = orig[: r.start()] + orig[r.end() :] if len(orig) == len(simple) else left_s
            if _RISK_LEFTOVER.fullmatch(left_s.strip()):
                continue
            orig, simple = left_o.strip(), left_s.strip()
        kind, label = label or _kind(simple), ""
        if kind == "findings" and not mode and (m := _MODE.search(simple)) is not None:
            mode = _MODE_WORDS[m.group(0)]
            if _FILLER.fullmatch(simple[: m.start()] + simple[m.end() :]):
                continue
        fields[kind].append(orig)
    return Description(
        "，".join(fields["findings"]),
        "，".join(fields["needs"]),
        "，".join(fields["services"]),
        risk,
        "，".join(fields["follow_up"]),
        mode or "",
    )


# -- what the confirmation must ask -----------------------------------------------------------------
def open_questions(parsed: ParsedVisit) -> tuple[str, ...]:
    """The doubts a report leaves, as questions for the confirmation, most important first. The dialog asks
    them (or shows them next to the fields) instead of saving a guess."""
    asks: list[str] = []
    if parsed.suggestions:
        typed = parsed.suggestions[0][0]
        options = "、".join(name for t, name in parsed.suggestions if t == typed)
        asks.append(f"名单上没有“{typed}”，是不是 {options}？")
    elif parsed.name_guessed and parsed.name:
        asks.append(f"您的名单上没有“{parsed.name}”，请确认姓名。")
    elif not parsed.name and not parsed.people:
        asks.append("这次走访的是哪位服务对象？")
    if len(parsed.people) > 1:
        asks.append(
            f"这条记录提到 {len(parsed.people)} 位服务对象：{'、'.join(parsed.people)}。要为每一位分别保存一条记录吗？"
        )
    if parsed.date_flag == INVALID:
        asks.append(f"“{parsed.date_said}”不是有效的日期，请回复走访日期。")
    elif parsed.date_flag == FUTURE:
        local = parsed.visited_at
        asks.append(f"走访时间 {local.year}年{local.month}月{local.day}日 还没到，请回复正确的走访日期。")
    if parsed.mode is None:
        asks.append("走访方式是哪种？" + "、".join(MODES))
    if parsed.risk is None:
        asks.append("走访后的风险等级？低、中、高")
    return tuple(asks)
