"""One-message visit reports: `走访 张桂英 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访`.

Pure (no I/O, no clock of its own): the caller passes `now`. Matching runs on a simplified, width-folded
copy of each clause (traditional characters and full-width punctuation work), while the fields keep the
worker's own wording. Danger words come from `handlers/casework/data/danger_words.txt`, validated on load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path

from handlers.common.localtime import SHANGHAI
from knowledge.engine.normalize import to_simplified

DANGER_FILE = Path(__file__).resolve().parent / "data" / "danger_words.txt"

MODES = ("入户", "电话", "视频", "到站")
RISKS = ("高", "中", "低")
_MODE_WORDS = {
    "入户走访": "入户", "入户": "入户", "上门": "入户", "家访": "入户", "登门": "入户", "入戶": "入户",
    "电话走访": "电话", "电话": "电话", "电访": "电话", "打电话": "电话", "致电": "电话", "通电话": "电话",
    "视频通话": "视频", "微信视频": "视频", "视频": "视频", "视讯": "视频",
    "来站": "到站", "到站": "到站", "来访": "到站", "站内": "到站", "到社工站": "到站", "来社工站": "到站",
}
_MODE = re.compile("|".join(sorted(map(re.escape, _MODE_WORDS), key=len, reverse=True)))

# -- time --------------------------------------------------------------------------------------
_N = r"\d{1,2}|[零一二两三四五六七八九十]{1,3}"
_TIME = re.compile(
    r"(?:(?P<day>大前天|前天|前日|昨天|昨日|昨晚|昨早|今天|今日|今早|今晚|今儿)"
    r"|(?P<last>上个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
    rf"|(?:(?P<y>\d{{4}})年)?(?P<m>{_N})月(?P<d>{_N})[日号]?"
    r"|(?P<m2>\d{1,2})[/.](?P<d2>\d{1,2})(?![\d.])"
    r"|(?P<d3>\d{1,2})[日号](?!楼|房|床|线|车)"
    r")?\s*"
    r"(?P<period>凌晨|清晨|早上|早晨|上午|中午|午后|下午|傍晚|晚上|夜里|夜间)?\s*"
    rf"(?:(?P<h>{_N})\s*(?:[点时](?:(?P<half>半)|(?P<quarter>一刻|三刻)|(?P<min>{_N})分?)?"
    r"|[:：](?P<min2>\d{2}))(?:钟)?(?:左右|前后|许)?)?"
)
_PERIOD_HOUR = {"凌晨": 5, "清晨": 7, "早上": 8, "早晨": 8, "上午": 9, "中午": 12, "午后": 14, "下午": 15,
                "傍晚": 18, "晚上": 19, "夜里": 21, "夜间": 21}
_DAY = {"今天": (0, ""), "今日": (0, ""), "今儿": (0, ""), "今早": (0, "早上"), "今晚": (0, "晚上"),
        "昨天": (1, ""), "昨日": (1, ""), "昨早": (1, "早上"), "昨晚": (1, "晚上"),
        "前天": (2, ""), "前日": (2, ""), "大前天": (3, "")}
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
            "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
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
    at: datetime  # aware, in the caller's time zone
    clock_given: bool  # an hour or a part of the day was said, not only a day


def match_time(text: str, now: datetime, tz: tzinfo = SHANGHAI) -> TimeMatch | None:
    """A time expression at the start of `text` (simplified), resolved against `now`; None if there is none
    or it names an impossible date."""
    m = _TIME.match(text)
    if m is None or not m.group(0).strip():
        return None
    g = m.groupdict()
    local = now.astimezone(tz)
    today = local.date()
    period = g["period"] or ""
    day: date = today
    if g["day"]:
        back, implied = _DAY[g["day"]]
        day, period = today - timedelta(days=back), period or implied
    elif g["wd"]:
        target = _WEEKDAY[g["wd"]]
        if g["last"]:
            day = today - timedelta(days=today.weekday() + 7 - target)
        else:
            day = today - timedelta(days=(today.weekday() - target) % 7)
    elif g["m"] or g["m2"] or g["d3"]:
        month = _number(g["m"] or g["m2"]) if (g["m"] or g["m2"]) else today.month
        dom = _number(g["d"] or g["d2"] or g["d3"])
        year = int(g["y"]) if g["y"] else today.year
        try:
            day = date(year, month, dom)
        except ValueError:
            return None
        if not g["y"] and day > today:  # "3月5日" said in February means last year's
            try:
                day = date(year - 1, month, dom) if (g["m"] or g["m2"]) else _previous_month(day)
            except ValueError:
                return None
    hour = minute = None
    if g["h"]:
        hour = _number(g["h"])
        if g["half"]:
            minute = 30
        elif g["quarter"]:
            minute = 15 if g["quarter"] == "一刻" else 45
        else:
            minute = _number(g["min"] or g["min2"]) if (g["min"] or g["min2"]) else 0
        if period in ("下午", "午后", "傍晚", "晚上", "夜里", "夜间") and hour < 12:
            hour += 12
        elif period == "中午" and hour < 6:
            hour += 12
        elif not period and 1 <= hour <= 6:  # "3点" on a working day is the afternoon
            hour += 12
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            return None
    elif period:
        hour, minute = _PERIOD_HOUR[period], 0
    if hour is None:
        if not (g["day"] or g["wd"] or g["m"] or g["m2"] or g["d3"]):
            return None
        if day == today:  # "今天": now
            return TimeMatch(len(m.group(0).rstrip()), local.replace(second=0, microsecond=0), True)
        at = datetime.combine(day, time(12, 0), tzinfo=tz)  # shown as the date alone
        return TimeMatch(len(m.group(0).rstrip()), at, False)
    return TimeMatch(len(m.group(0).rstrip()), datetime.combine(day, time(hour, minute), tzinfo=tz), True)


def _previous_month(day: date) -> date:
    first = day.replace(day=1) - timedelta(days=1)
    return first.replace(day=day.day)


# -- risk, clause kinds -------------------------------------------------------------------------
_RISK = re.compile(
    r"(?<!降)(?P<a>较高|偏高|较低|偏低|中等|高|中|低)(?:度)?风险"
    r"|风险(?:等级|级别|评估|程度)?(?:为|是|属于?|定为|[:：])?\s*(?:较|偏|很|比较|仍|仍然|依然|已|有点)?"
    r"(?P<b>高|中等?|低|大|小)"
    r"|(?P<c>高危|无风险|没有风险|没风险|无明显风险|暂无风险)"
)
_RISK_LEVEL = {"高": "高", "较高": "高", "偏高": "高", "大": "高", "高危": "高",
               "中": "中", "中等": "中",
               "低": "低", "较低": "低", "偏低": "低", "小": "低", "无风险": "低", "没有风险": "低", "没风险": "低",
               "无明显风险": "低", "暂无风险": "低"}
_RISK_RANK = {"": 0, "低": 1, "中": 2, "高": 3}
_RISK_LEFTOVER = re.compile(r"(?:评估|评定|判断|初步|目前|现|仍|属于?|为|是|定为|等级|级别|整体|总体|综合)*")

_FOLLOW_UP = re.compile(r"回访|跟进|复访|随访|再访|再去|再来|再上门|下周|下星期|下礼拜|下次|下回|下个?月|明天|后天|"
                        r"过几天|过两天|近期|持续关注|继续关注|跟踪|转介|定期|每周|每月|每天|约好")
_NEEDS = re.compile(r"需要|需求|希望|想要|想让|想申请|想办|要求|急需|缺少|缺乏|盼望|期望|期待|诉求|求助")
_SERVICES = re.compile(r"提供|送|协助|帮.{0,8}?(?:办|申请|买|领|缴|联系|预约|打扫|清洁|理发|修|挂号|拿)|帮忙|代(?:办|购|买|缴|领)|"
                       r"陪同|链接|对接|发放|转交|办理|已联系|联系了|指导|讲解|宣传|慰问|量血压|测血压|理发|打扫|清洁")
# What is left of a clause once the mode or time is taken out and that says nothing by itself.
_FILLER = re.compile(r"^(?:了|过|去|已|已经|进行|开展)*(?:看望|探望|走访|慰问|拜访|访视|了解情况|联系|联络|沟通)?(?:了|过|一下|一次)*$")
_TITLES = r"阿姨|阿婆|阿公|阿伯|婆婆|爷爷|奶奶|伯伯|叔叔|大爷|大妈|大娘|老人家|老人|老伯|伯|婆|叔|姨"
_NAME_SUFFIX = re.compile(rf"(?:{_TITLES})$")
_TITLE = re.compile(_TITLES)
_NAME_PREFIX = re.compile(r"^(?:了|给|对|去)")
_HEAD_KEY = re.compile(_MODE.pattern + r"|今天|昨天|前天|今早|今晚|昨晚|上午|下午|中午|晚上|早上|周[一二三四五六日天]|"
                       r"星期|礼拜|\d{1,2}月|\d{1,2}[/.]\d")
_SEPARATORS = re.compile(r"[，,。；;！!？?\n\r]+")
_SPACES = re.compile(r"\s+")
_TIME_GAP = re.compile(r"(?<=[天日早晚午上点时\d月号])\s+(?=\d|[一二两三四五六七八九十]{1,3}[点时月]|凌晨|早上|上午|中午|下午|"
                       r"傍晚|晚上|半|[点时:：])")


# -- danger words ---------------------------------------------------------------------------------
class DangerWordsError(ValueError):
    """The danger-word file has a bad line; the message names the file and the line."""


_NEGATION = re.compile(r"(?:没有|没|未|无|否认|排除|未见|未发现|没发现|不再|不会|防止|预防|避免|小心|注意|谨防|以防)"
                       r"(?:再|过|明显|任何|发生|出现|有|被)?$")


@dataclass(frozen=True)
class DangerWords:
    words: tuple[str, ...]
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, words: Iterable[str]) -> DangerWords:
        unique = tuple(dict.fromkeys(words))
        keys = sorted(unique, key=len, reverse=True)
        return cls(unique, re.compile("|".join(map(re.escape, keys))) if keys else None)

    def find(self, text: str) -> tuple[str, ...]:
        """Danger words in `text` (any script), in order of first mention, skipping negated mentions."""
        if self.pattern is None or not text:
            return ()
        simple = to_simplified(text)
        found: dict[str, None] = {}
        for m in self.pattern.finditer(simple):
            if not _NEGATION.search(simple[max(0, m.start() - 6):m.start()]):
                found[m.group(0)] = None
        return tuple(found)


def load_danger_words(path: Path = DANGER_FILE) -> DangerWords:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DangerWordsError(f"{path}: 不是 UTF-8 编码的文本文件 ({exc.reason})") from exc
    words: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        for word in line.split():
            if not 2 <= len(word) <= 12:
                raise DangerWordsError(f"{path}:{number}: 危险词应为 2 到 12 个字，实际为 {word!r}")
            if not re.fullmatch(r"[\u4e00-\u9fffA-Za-z0-9]+", word):
                raise DangerWordsError(f"{path}:{number}: 危险词只能包含汉字、字母和数字：{word!r}")
            if to_simplified(word) != word:
                raise DangerWordsError(f"{path}:{number}: 请用简体字书写 {word!r}（应为 {to_simplified(word)!r}）")
            if word in words:
                raise DangerWordsError(f"{path}:{number}: {word!r} 已在第 {words[word]} 行出现")
            words[word] = number
    if not words:
        raise DangerWordsError(f"{path}: 没有任何危险词")
    return DangerWords.of(words)


@lru_cache(maxsize=1)
def default_danger_words() -> DangerWords:
    return load_danger_words()


# -- the report -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParsedVisit:
    name: str  # the case name as typed ("" when missing), honorifics removed
    mode: str  # 入户 | 电话 | 视频 | 到站, "" when not said
    visited_at: datetime
    time_given: bool  # a day or time was said (else visited_at is now)
    clock_given: bool  # an hour or part of the day was said
    findings: str
    needs: str
    services: str
    risk: str  # 高 | 中 | 低 | ""
    follow_up: str
    danger: tuple[str, ...]


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


def _name_length(simple: str, known: tuple[str, ...]) -> int:
    if n := _known_prefix(simple, known):
        return n
    if (key := _HEAD_KEY.search(simple, 2)) is not None:
        return key.start()
    return len(simple) if len(simple) <= 4 else 3


def _segments(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for clause in _SEPARATORS.split(body):
        for piece in _SPACES.split(clause.strip()):
            if piece:
                out.append((piece, to_simplified(piece)))
    return out


def _collapse_time_spaces(text: str) -> str:
    """`今天 下午 3 点` → `今天下午3点`, so that a time split by spaces is read as one."""
    return _TIME_GAP.sub("", text)


def _known_prefix(simple: str, known: tuple[str, ...]) -> int:
    for name in known:  # longest first
        if simple.startswith(name):
            return len(name)
    return 0


def _take_name(orig: str, simple: str, known: tuple[str, ...]) -> tuple[str, str, str]:
    """The case name at the start of a segment, and what follows it (original, simplified)."""
    if len(simple) > 2 and (p := _NAME_PREFIX.match(simple)) is not None and not _known_prefix(simple, known):
        orig, simple = _cut(orig, simple, p.end())
    n = _name_length(simple, known)
    name = simple[:n]
    if len(plain := _NAME_SUFFIX.sub("", name)) >= 2:
        name = plain
    if (title := _TITLE.match(simple, n)) is not None:  # 张桂英阿姨
        n = title.end()
    rest_o, rest_s = _cut(orig, simple, n)
    return name, rest_o, rest_s


def parse_visit(body: str, now: datetime, tz: tzinfo = SHANGHAI, danger: DangerWords | None = None,
                known_names: Iterable[str] = ()) -> ParsedVisit:
    """Parse the text after the `走访` command. `known_names` (case names) help split a name written
    together with what follows, e.g. `张桂英身体还可以`, and keep names such as 周一平 from being read as a day."""
    known = tuple(sorted({to_simplified(n) for n in known_names if n}, key=len, reverse=True))
    segs = _segments(_collapse_time_spaces(body))
    name = mode = ""
    when: TimeMatch | None = None
    # The head: name, mode and time in any order, up to the first descriptive clause.
    i = 0
    while i < len(segs):
        orig, simple = segs[i]
        if not name and _known_prefix(simple, known):
            name, orig, simple = _take_name(orig, simple, known)
        while simple:
            if when is None and (t := match_time(simple, now, tz)) is not None:
                if (not name and simple[0] == "周" and t.length == 2 and 1 <= len(simple) - 2 <= 2
                        and not _HEAD_KEY.match(simple, 2)):
                    break  # 周一平, 周五妹: a surname, not a weekday
                when = t
                orig, simple = _cut(orig, simple, t.length)
            elif not mode and (m := _MODE.match(simple)) is not None:
                mode = _MODE_WORDS[m.group(0)]
                orig, simple = _cut(orig, simple, m.end())
            else:
                break
        if not simple or _FILLER.fullmatch(simple):
            i += 1
        elif not name:
            name, orig, simple = _take_name(orig, simple, known)
            if simple:
                segs[i] = (orig, simple)
            else:
                i += 1
        else:
            segs[i] = (orig, simple)
            break
    said = _classify(segs[i:], mode)
    words = (danger or default_danger_words()).find(body)
    return ParsedVisit(
        name=name, mode=said.mode, visited_at=when.at if when else now.astimezone(tz),
        time_given=when is not None, clock_given=bool(when and when.clock_given), findings=said.findings,
        needs=said.needs, services=said.services, risk=said.risk, follow_up=said.follow_up, danger=words)


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
    return _classify(_segments(text), "")


def _classify(segs: list[tuple[str, str]], mode: str) -> Description:
    findings: list[str] = []
    needs: list[str] = []
    services: list[str] = []
    follow: list[str] = []
    risk = ""
    for orig, simple in segs:
        if (r := _RISK.search(simple)) is not None:
            level = parse_risk(simple)
            risk = level if _RISK_RANK[level] > _RISK_RANK[risk] else risk
            left_s = simple[:r.start()] + simple[r.end():]
            left_o = orig[:r.start()] + orig[r.end():] if len(orig) == len(simple) else left_s
            if _RISK_LEFTOVER.fullmatch(left_s.strip()):
                continue
            orig, simple = left_o.strip(), left_s.strip()
        if _FOLLOW_UP.search(simple):
            follow.append(orig)
        elif _NEEDS.search(simple):
            needs.append(orig)
        else:
            if not mode and (m := _MODE.search(simple)) is not None:
                mode = _MODE_WORDS[m.group(0)]
                if _FILLER.fullmatch(simple[:m.start()] + simple[m.end():]):
                    continue
            (services if _SERVICES.search(simple) else findings).append(orig)
    return Description("，".join(findings), "，".join(needs), "，".join(services), risk, "，".join(follow), mode)
