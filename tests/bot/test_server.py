"""The HTTP server on a real port: health, readiness, the web chat endpoint and bad requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_services
from bot.config import Settings
from bot.server import create_app


@pytest.fixture
async def base_url(tmp_path: Path, clock) -> AsyncIterator[str]:  # noqa: ANN001
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", _env_file=None)
    services = await build_services(settings, clock=clock)
    runner = web.AppRunner(create_app(services))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
    await services.close()


async def test_health_and_readiness(base_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{base_url}/readyz") as r:
            body = await r.json()
            assert r.status == 200 and body == {"ready": True, "knowledge_base": True, "database": True}


async def test_web_chat_answers_with_citation_and_dedups(base_url: str) -> None:
    payload = {"visitor_id": "visitor-0001", "text": "高龄津贴怎么申请", "message_id": "abc"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/chat", json=payload) as r:
            assert r.status == 200
            [reply] = (await r.json())["replies"]
            assert reply["citations"][0]["path"] == "yanglao/gaoling-jintie.md"
            assert "来源" in reply["text"]
        async with http.post(f"{base_url}/api/chat", json=payload) as r:
            assert (await r.json())["replies"] == []


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b'{"visitor_id": "x", "text": "hi"}', 400),
    (b'["a list"]', 400),
    (b'{"visitor_id": "visitor-0001", "text": 5}', 400),
    (b"x" * (1024 * 1024 + 10), 413),
])
async def test_bad_requests_get_4xx(base_url: str, body: bytes, status: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/chat", data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == status
            assert "error" in await r.json()
