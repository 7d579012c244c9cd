"""The HTTP server on a real port: health, readiness, the web chat endpoint and bad requests."""

from __future__ import annotations

import aiohttp
import pytest


async def test_health_and_readiness(base_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{base_url}/readyz") as r:
            body = await r.json()
            assert r.status == 200 and body == {"ready": True, "knowledge_base": True, "database": True}


async def test_web_chat_answers_with_citation_and_dedups(base_url: str) -> None:
    payload = {"text": "高龄津贴怎么申请", "message_id": "abc"}
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:  # the session cookie, as a browser keeps it
        async with http.post(f"{base_url}/api/chat", json=payload) as r:
            assert r.status == 200
            [reply] = (await r.json())["replies"]
            assert reply["citations"][0]["path"] == "yanglao/gaoling-jintie.md"
            assert "来源" in reply["text"]
        async with http.post(f"{base_url}/api/chat", json=payload) as r:
            assert (await r.json())["replies"] == []


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b'["a list"]', 400),
        (b'{"text": 5}', 400),
        (b"x" * (1024 * 1024 + 10), 413),
    ],
)
async def test_bad_requests_get_4xx(base_url: str, body: bytes, status: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/chat", data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == status
            assert "error" in await r.json()
