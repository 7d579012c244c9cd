"""Process-wide counters and histograms, rendered in the Prometheus text format at GET /metrics.

Small on purpose (no client library): counters and histograms with fixed label names. Values live for the
life of the process, as Prometheus expects; each server process exposes its own and Prometheus adds them up.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextvars import ContextVar, Token
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds; 5 s is WeChat's passive-reply deadline, so a bucket edge sits on it.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric(ABC):
    kind = ""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"

    @abstractmethod
    def samples(self) -> Iterator[str]:
        ...


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = (),
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help_text, label_names)
        self.buckets = tuple(sorted(buckets)) + (math.inf,)
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}  # bucket counts, [sum]

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * len(self.buckets), [0.0]))
            for i, edge in enumerate(self.buckets):
                if value <= edge:
                    counts[i] += 1  # cumulative: every bucket at or above the value counts it
            total[0] += value

    def count(self, **labels: str) -> int:
        series = self._series.get(self._key(labels))
        return series[0][-1] if series else 0

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted((k, (list(c), s[0])) for k, (c, s) in self._series.items())
        for key, (counts, total) in items:
            for edge, n in zip(self.buckets, counts, strict=True):
                le = 'le="' + _number(edge) + '"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {n}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {counts[-1]}"


class Gauge(_Metric):
    """A value read from the database now and then (e.g. open tickets); `replace` swaps the whole series."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[tuple[str, ...], float] = {}

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def replace(self, series: dict[tuple[str, ...], float]) -> None:
        with self._lock:
            self._values = dict(series)

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


M = TypeVar("M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
MESSAGES = REGISTRY.add(Counter(
    "shegong_messages_total", "Incoming messages by channel and outcome (replied, duplicate, error, empty).",
    ("channel", "outcome")))
REPLY_SECONDS = REGISTRY.add(Histogram(
    "shegong_reply_seconds", "Time from dispatch to replies ready, per channel (duplicates excluded).",
    ("channel",)))
DEDUP_HITS = REGISTRY.add(Counter(
    "shegong_dedup_hits_total", "Platform redeliveries dropped by the dedup middleware.", ("channel",)))
OUTBOUND_ERRORS = REGISTRY.add(Counter(
    "shegong_outbound_errors_total", "Failed push attempts from the outbox, per channel.", ("channel",)))
OUTBOUND_SENT = REGISTRY.add(Counter(
    "shegong_outbound_sent_total", "Pushes delivered by the outbox, per channel.", ("channel",)))
# Handoff tickets. First-reply times are observed by the process that relays the reply (sum across
# processes); open tickets are read from the database by every process (take max, not sum).
FIRST_REPLY_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
TICKET_FIRST_REPLY_SECONDS = REGISTRY.add(Histogram(
    "shegong_ticket_first_reply_seconds", "Time from a handoff ticket opening to the first human reply.",
    ("station",), buckets=FIRST_REPLY_BUCKETS))
TICKETS_OPEN = REGISTRY.add(Gauge(
    "shegong_tickets_open", "Open handoff tickets per station (refreshed from the database every minute).",
    ("station",)))
TICKETS_OPENED = REGISTRY.add(Counter(
    "shegong_tickets_opened_total", "Handoff tickets opened, per station.", ("station",)))

# Set by the dedup middleware so the metrics middleware, further out in the same call chain, can tell a
# dropped duplicate from a handler that simply had nothing to say (both return no replies).
_duplicate: ContextVar[bool] = ContextVar("shegong_duplicate", default=False)


def note_duplicate(channel: str) -> None:
    DEDUP_HITS.inc(channel=channel)
    _duplicate.set(True)


def note_redelivery_refused(channel: str) -> None:
    """A redelivery caught by durable intake, before it reaches the middlewares."""
    DEDUP_HITS.inc(channel=channel)
    MESSAGES.inc(channel=channel, outcome="duplicate")


def begin_message() -> Token[bool]:
    return _duplicate.set(False)


def end_message(token: Token[bool], channel: str, replied: bool, seconds: float, failed: bool = False) -> None:
    duplicate = _duplicate.get()
    _duplicate.reset(token)
    if duplicate:
        MESSAGES.inc(channel=channel, outcome="duplicate")
        return
    outcome = "error" if failed else "replied" if replied else "empty"
    MESSAGES.inc(channel=channel, outcome=outcome)
    REPLY_SECONDS.observe(seconds, channel=channel)
