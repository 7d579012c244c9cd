"""Reminder rules as data: which recurring items each case category has, validated on load.

`handlers/reminders/data/default.yaml` documents the format. A station may override items in
`stations/<站名>.yaml` beside it. Every error names the file and line, so an administrator can fix it.
Category names and their other spellings come from the one table the roster import uses too
(handlers/casework/data/categories.tsv, handlers.casework.tables): a rule file may name only categories listed there.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from handlers.casework.tables import CATEGORIES_FILE, CategoryTable, TableError, load_categories, spelling_key

BUILTIN_RULES = Path(__file__).resolve().parent / "data"
VISIT_MODES = ("入户", "电话", "视频", "到站")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
ITEM_FIELDS = {"key", "name", "every", "first_within_days", "new_cases_only", "lead_days",
               "escalate_after_days", "reset_by", "disabled"}
TOP_FIELDS = {"defaults", "all", "categories"}
_UNITS = {"day": (0, 1), "days": (0, 1), "天": (0, 1), "日": (0, 1), "week": (0, 7), "weeks": (0, 7),
          "周": (0, 7), "month": (1, 0), "months": (1, 0), "个月": (1, 0), "月": (1, 0), "year": (12, 0),
          "years": (12, 0), "年": (12, 0)}
_WORDS = {"每月": (1, 0), "每季度": (3, 0), "每半年": (6, 0), "每年": (12, 0), "半年": (6, 0), "季度": (3, 0)}
_EVERY = re.compile(r"^(?:每)?\s*(\d+)\s*([a-z]+|天|日|周|个月|月|年)$")


@lru_cache(maxsize=65536)  # a pass asks this for ~10^5 items but only ~10^3 distinct days
def _add(day: date, months: int, days: int) -> date:
    if months:
        y, m = divmod(day.month - 1 + months, 12)
        y, m = day.year + y, m + 1
        day = date(y, m, min(day.day, _month_days(y, m)))
    return day + timedelta(days=days)


def _month_days(year: int, month: int) -> int:
    # calendar.monthrange computes a weekday too: this runs once per due item, 10^5 times a pass.
    if month == 2:
        return 29 if calendar.isleap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class RulesError(ValueError):
    """A rules file is invalid; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Interval:
    months: int = 0
    days: int = 0

    def add_to(self, day: date) -> date:
        """Calendar months (clamped to the month's last day, 1月31日 + 1 month = 2月28日), then days."""
        return _add(day, self.months, self.days)

    @property
    def min_days(self) -> int:
        """A lower bound on the interval's length in days (months are at least 28 days)."""
        return self.months * 28 + self.days

    @property
    def approx_days(self) -> float:
        return self.months * 30.44 + self.days

    def describe(self) -> str:
        if self.months and not self.days:
            return {1: "每月", 3: "每季度", 6: "每半年", 12: "每年"}.get(self.months, f"每 {self.months} 个月")
        return f"每 {self.approx_days:.0f} 天"


@dataclass(frozen=True, slots=True)
class ResetBy:
    """Which recorded visits count as having done the item: any of these modes, or any keyword in the text."""

    modes: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    name: str
    reset_by: ResetBy
    every: Interval | None = None
    first_within_days: int | None = None
    new_cases_only: bool = False
    lead_days: int = 3
    escalate_after_days: int | None = 7

    @property
    def one_time(self) -> bool:
        return self.every is None


@dataclass(frozen=True)
class RuleSet:
    """The rules one station uses: items per category, items for every case, and the category table's other
    spellings (keyed by spelling_key) so that a case stored with an old spelling still gets its items."""

    categories: dict[str, tuple[Item, ...]]
    common: tuple[Item, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)

    def items_for(self, categories: Iterable[str]) -> tuple[Item, ...]:
        """The case's items: one per key; where categories disagree the shortest interval wins."""
        chosen: dict[str, Item] = {}
        for item in self.common:
            chosen[item.key] = item
        for category in categories:
            name = self.aliases.get(spelling_key(category), category.strip())
            for item in self.categories.get(name, ()):
                old = chosen.get(item.key)
                if old is None or _stricter(item, old):
                    chosen[item.key] = item
        return tuple(chosen.values())

    def all_items(self) -> list[Item]:
        return [*self.common, *(i for items in self.categories.values() for i in items)]


def _stricter(new: Item, old: Item) -> bool:
    if new.every is None or old.every is None:
        return False
    return new.every.approx_days < old.every.approx_days


@dataclass(frozen=True)
class RuleBook:
    """The default rules and each overriding station's rules."""

    default: RuleSet
    stations: dict[str, RuleSet] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def for_station(self, station_name: str) -> RuleSet:
        return self.stations.get(station_name, self.default)

    def rule_sets(self) -> list[RuleSet]:
        return [self.default, *self.stations.values()]

    def reset_specs(self) -> list[ResetBy]:
        """Every distinct reset condition, in a stable order: one aggregate column each in the due query."""
        seen: dict[ResetBy, None] = {}
        for rules in self.rule_sets():
            for item in rules.all_items():
                seen.setdefault(item.reset_by, None)
        return list(seen)

    def item_keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for rules in self.rule_sets():
            for item in rules.all_items():
                seen.setdefault(item.key, None)
        return list(seen)


# -- loading -------------------------------------------------------------------------------------
class _Node(dict):
    """A mapping that remembers the line of each key, for error messages."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Node:
    result = _Node()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Where:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: Any, key: str | None, message: str) -> RulesError:
        line = 0
        if isinstance(node, _Node):
            line = node.key_lines.get(key, node.line) if key else node.line
        where = f"{self.path}:{line}" if line else str(self.path)
        return RulesError(f"提醒规则文件 {where}{'（' + key + '）' if key else ''}：{message}")


def parse_interval(text: str) -> Interval:
    value = str(text).strip().lower()
    if value in _WORDS:
        return Interval(*_WORDS[value])
    match = _EVERY.match(value)
    if match is None or match.group(2) not in _UNITS or int(match.group(1)) < 1:
        raise ValueError(f"看不懂的间隔“{text}”，应写成 1 month、3 months、1 year、15 days 或 每月、每季度、每年")
    months, days = _UNITS[match.group(2)]
    n = int(match.group(1))
    return Interval(months * n, days * n)


def _int(where: _Where, node: _Node, key: str, low: int, high: int, default: int | None,
         nullable: bool = False) -> int | None:
    if key not in node:
        return default
    value = node[key]
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise where.fail(node, key, f"应为 {low} 到 {high} 之间的整数，现在是“{value}”")
    return value


def _strings(where: _Where, node: _Node, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise where.fail(node, key, "应为文字列表，例如 [入户, 电话]")
    return tuple(v.strip() for v in value)


def _reset_by(where: _Where, item: _Node) -> ResetBy:
    node = item.get("reset_by")
    if not isinstance(node, _Node):
        raise where.fail(item, "reset_by", "必须写明哪些走访记录算完成（modes 和/或 keywords）")
    unknown = set(node) - {"modes", "keywords"}
    if unknown:
        raise where.fail(node, sorted(unknown)[0], "未知字段，只能是 modes 或 keywords")
    modes = _strings(where, node, "modes", node.get("modes"))
    for mode in modes:
        if mode not in VISIT_MODES:
            raise where.fail(node, "modes", f"走访方式“{mode}”不认识，可用：{'、'.join(VISIT_MODES)}")
    keywords = _strings(where, node, "keywords", node.get("keywords"))
    if not modes and not keywords:
        raise where.fail(node, None, "modes 和 keywords 不能都为空")
    return ResetBy(tuple(sorted(modes)), tuple(sorted(keywords)))


def _item(where: _Where, node: Any, defaults: dict[str, Any], partial: bool) -> Item | str:
    """An item, or its key alone when it is `disabled: true` (station overrides)."""
    if not isinstance(node, _Node):
        raise where.fail(node, None, f"事项应为键值对（key、name、every……），现在是“{node}”")
    unknown = set(node) - ITEM_FIELDS
    if unknown:
        raise where.fail(node, sorted(unknown)[0], f"未知字段，可用：{'、'.join(sorted(ITEM_FIELDS))}")
    key = node.get("key")
    if not isinstance(key, str) or not KEY.match(key):
        raise where.fail(node, "key", f"key 应为小写英文开头的代号（最长 24 个字符），现在是“{key}”")
    if node.get("disabled") is True:
        if not partial:
            raise where.fail(node, "disabled", "只有站点规则可以停用事项")
        return key
    name = node.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 20:
        raise where.fail(node, "name", "name 应为 1 到 20 个字的事项名称")
    every = None
    if node.get("every") is not None:
        try:
            every = parse_interval(node["every"])
        except ValueError as exc:
            raise where.fail(node, "every", str(exc)) from None
    first = _int(where, node, "first_within_days", 1, 366, None)
    if every is None and first is None:
        raise where.fail(node, None, f"事项 {key} 至少要有 every 或 first_within_days")
    new_only = node.get("new_cases_only", False)
    if not isinstance(new_only, bool):
        raise where.fail(node, "new_cases_only", "应为 true 或 false")
    lead = _int(where, node, "lead_days", 0, 90, defaults["lead_days"])
    escalate = _int(where, node, "escalate_after_days", 0, 366, defaults["escalate_after_days"], nullable=True)
    return Item(key, name.strip(), _reset_by(where, node), every, first, new_only, lead or 0, escalate)


def _items(where: _Where, parent: _Node, key: str, defaults: dict[str, Any], partial: bool
           ) -> list[Item | str]:
    value = parent[key]
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.fail(parent, key, "应为事项列表（每项以“- key: …”开头）")
    found = [_item(where, node, defaults, partial) for node in value]
    keys = [f if isinstance(f, str) else f.key for f in found]
    for k in keys:
        if keys.count(k) > 1:
            raise where.fail(parent, key, f"事项 key “{k}”重复")
    return found


def _read(path: Path) -> _Node:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RulesError(f"提醒规则文件 {where}：YAML 格式错误（{getattr(exc, 'problem', exc)}）") from None
    except OSError as exc:
        raise RulesError(f"读不到提醒规则文件 {path}：{exc.strerror}") from None
    if data is None:
        data = _Node()
        data.line, data.key_lines = 1, {}
    if not isinstance(data, _Node):
        raise RulesError(f"提醒规则文件 {path}:1：顶层应为键值对（defaults、all、categories）")
    return data


def _apply(base: RuleSet, path: Path, partial: bool, base_defaults: dict[str, Any], table: CategoryTable
           ) -> tuple[RuleSet, dict[str, Any]]:
    """Read one file on top of `base` (empty for the default file): same-key items replace, others add."""
    where = _Where(path)
    data = _read(path)
    if "aliases" in data:
        raise where.fail(data, "aliases", f"类别的其他写法统一写在 {table.path}（导入名单和提醒规则共用），"
                                          "请把这里的 aliases 移到那里")
    unknown = set(data) - TOP_FIELDS
    if unknown:
        raise where.fail(data, sorted(unknown)[0], f"未知字段，可用：{'、'.join(sorted(TOP_FIELDS))}")
    defaults = dict(base_defaults)
    if "defaults" in data:
        node = data["defaults"]
        if not isinstance(node, _Node) or set(node) - {"lead_days", "escalate_after_days"}:
            raise where.fail(data, "defaults", "defaults 只能有 lead_days 和 escalate_after_days")
        defaults["lead_days"] = _int(where, node, "lead_days", 0, 90, defaults["lead_days"])
        defaults["escalate_after_days"] = _int(where, node, "escalate_after_days", 0, 366,
                                               defaults["escalate_after_days"], nullable=True)
    common = _merge(base.common, _items(where, data, "all", defaults, partial)) if "all" in data else base.common
    categories = dict(base.categories)
    if data.get("categories") is not None:
        node = data["categories"]
        if not isinstance(node, _Node):
            raise where.fail(data, "categories", "categories 应为“类别名: 事项列表”")
        for name in node:
            if not isinstance(name, str) or not name.strip():
                raise where.fail(node, str(name), "类别名应为文字")
            if name.strip() not in table.names:
                found = table.canonical(name)
                hint = f"“{name}”是“{found}”的其他写法，请写类别名“{found}”" if found else \
                    f"类别“{name}”不在类别表 {table.path} 里（可用：{'、'.join(table.names)}）"
                raise where.fail(node, name, hint)
            categories[name.strip()] = _merge(categories.get(name.strip(), ()), _items(where, node, name, defaults,
                                                                                     partial))
    return RuleSet(categories, common, table.aliases()), defaults


def _merge(base: Sequence[Item], changes: Sequence[Item | str]) -> tuple[Item, ...]:
    items = {i.key: i for i in base}
    for change in changes:
        if isinstance(change, str):
            items.pop(change, None)
        else:
            items[change.key] = change
    return tuple(items.values())


def load_rulebook(directory: Path | None = None, categories: Path = CATEGORIES_FILE) -> RuleBook:
    """Read `default.yaml` and `stations/*.yaml` from the directory (the built-in one by default), checking
    the category names against the category table."""
    root = Path(directory) if directory else BUILTIN_RULES
    default_path = root / "default.yaml"
    if not default_path.is_file():
        raise RulesError(f"找不到提醒规则文件 {default_path}")
    try:
        table = load_categories(categories)
    except TableError as exc:
        raise RulesError(str(exc)) from None
    empty = RuleSet({})
    default, defaults = _apply(empty, default_path, partial=False,
                               base_defaults={"lead_days": 3, "escalate_after_days": 7}, table=table)
    stations: dict[str, RuleSet] = {}
    sources = [str(default_path)]
    for path in sorted((root / "stations").glob("*.yaml")) if (root / "stations").is_dir() else []:
        stations[path.stem], _ = _apply(default, path, partial=True, base_defaults=defaults, table=table)
        sources.append(str(path))
    sources.append(str(categories))
    return RuleBook(default, stations, tuple(sources))


@lru_cache(maxsize=8)
def _cached(directory: str, stamp: tuple[tuple[str, float], ...]) -> RuleBook:
    return load_rulebook(Path(directory) if directory else None)


def current_rulebook(directory: str = "") -> RuleBook:
    """The rules, re-read when a file changed (handlers call this per message; it costs a few stats)."""
    root = Path(directory) if directory else BUILTIN_RULES
    files = [root / "default.yaml", *sorted((root / "stations").glob("*.yaml"))] if root.is_dir() else []
    stamp = tuple((str(p), p.stat().st_mtime) for p in [*files, CATEGORIES_FILE] if p.exists())
    return _cached(directory, stamp)
