"""GET /metrics: counters move as messages go through /api/chat; the text parses as Prometheus format."""

from __future__ import annotations

import re
from types import SimpleNamespace

import aiohttp
import pytest

from bot import metrics
from bot.routing.middlewares import measure

SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text → {(name, labels): value}; fails on any line that is not a comment or a sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        name, labels, value = match.groups()
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


async def scrape(http: aiohttp.ClientSession, base_url: str) -> dict:
    async with http.get(f"{base_url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(await r.text())


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_counters_move_with_messages(base_url: str) -> None:
    # The registry is process-wide (other tests count too), so everything is compared as a difference.
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:  # one visitor: the cookie is kept
        before = await scrape(http, base_url)

        async def chat(text: str, message_id: str) -> list:
            body = {"text": text, "message_id": message_id}
            async with http.post(f"{base_url}/api/chat", json=body) as r:
                return (await r.json())["replies"]

        assert await chat("低保怎么申请", "m1")
        assert await chat("高龄津贴", "m2")
        assert await chat("低保怎么申请", "m1") == []  # a redelivery
        after = await scrape(http, base_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("shegong_messages_total", channel="web", outcome="replied") == 2
    assert moved("shegong_messages_total", channel="web", outcome="duplicate") == 1
    assert moved("shegong_messages_total", channel="web", outcome="error") == 0
    assert moved("shegong_dedup_hits_total", channel="web") == 1
    # Latency is observed for the two answered messages, not for the dropped duplicate.
    assert moved("shegong_reply_seconds_count", channel="web") == 2
    assert moved("shegong_reply_seconds_bucket", channel="web", le="+Inf") == 2
    assert moved("shegong_reply_seconds_sum", channel="web") > 0
    buckets = [
        v for (n, labels), v in after.items() if n == "shegong_reply_seconds_bucket" and ("channel", "web") in labels
    ]
    assert buckets == sorted(buckets), "histogram buckets must be cumulative"


async def test_handler_failure_counts_as_error(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge import KnowledgeBase

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("index corrupted")

    monkeypatch.setattr(KnowledgeBase, "answer", broken)
    before = metrics.MESSAGES.value(channel="web", outcome="error")
    async with aiohttp.ClientSession() as http:
        body = {"text": "低保怎么申请", "message_id": "boom"}
        async with http.post(f"{base_url}/api/chat", json=body) as r:
            [reply] = (await r.json())["replies"]
    assert "12345" in reply["text"]  # the dispatcher's apology
    assert metrics.MESSAGES.value(channel="web", outcome="error") == before + 1


async def test_no_reply_counts_as_empty() -> None:
    ctx = SimpleNamespace(incoming=SimpleNamespace(channel="test-empty"))

    async def silent(ctx: object) -> list:
        return []

    assert await measure(ctx, silent) == []  # type: ignore[arg-type]
    assert metrics.MESSAGES.value(channel="test-empty", outcome="empty") == 1
    assert metrics.REPLY_SECONDS.count(channel="test-empty") == 1


def test_render_escapes_labels_and_cumulates_buckets() -> None:
    registry = metrics.Registry()
    counter = registry.add(metrics.Counter("t_total", "Test.", ("channel",)))
    hist = registry.add(metrics.Histogram("t_seconds", "Test.", ("channel",), buckets=(0.1, 1.0)))
    counter.inc(channel='we"ird\\')
    hist.observe(0.5, channel="web")
    text = registry.render()
    assert 't_total{channel="we\\"ird\\\\"} 1' in text
    assert 't_seconds_bucket{channel="web",le="0.1"} 0' in text
    assert 't_seconds_bucket{channel="web",le="1"} 1' in text
    assert 't_seconds_bucket{channel="web",le="+Inf"} 1' in text
    assert 't_seconds_sum{channel="web"} 0.5' in text
    assert "# TYPE t_seconds histogram" in text
    with pytest.raises(ValueError):
        counter.inc(outcome="x")


async def test_metrics_token_when_configured(tmp_path, clock) -> None:
    from live_app import serve_app, sqlite_settings

    async with (
        serve_app(sqlite_settings(tmp_path, metrics_token="s3cret"), clock) as url,
        aiohttp.ClientSession() as http,
    ):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            async with http.get(f"{url}/metrics", headers=headers) as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.get(f"{url}/metrics", headers={"Authorization": "Bearer s3cret"}) as r:
            assert r.status == 200 and "shegong_messages_total" in await r.text()
