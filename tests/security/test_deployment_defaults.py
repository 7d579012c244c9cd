"""Issue 13, point 9: safe defaults. /metrics for this machine only (or with a token), loopback-only ports in
compose, private data files, no token or message text in DEBUG logs, frame and sniffing protection on every
response, one clear line (exit 2) for a database that cannot be reached, bounded dependencies and a lock file
that the image installs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from fakes.telegram_api import FakeTelegram, text_update
from live_app import serve_services, sqlite_settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.app import Services
from bot.channels import telegram
from bot.channels.base import Channel
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.logging_setup import QUIET_LOGGERS, setup_logging

REPO = Path(__file__).resolve().parents[2]
SHEGONG = Path(sys.executable).with_name("shegong")
# A token shaped like a real one (bot id, colon, 35 characters), so that it is recognisable when it leaks.
REAL_LOOKING_TOKEN = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SECRET = "s3cret"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def outside_address() -> str | None:
    """An address of this machine that is not loopback (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def telegram_only(services: Services) -> dict[str, Channel]:
    channel = telegram.create(services)
    assert channel is not None
    return {"telegram": channel}


# -- /metrics ------------------------------------------------------------------------------------------------
async def test_metrics_answer_only_this_machine_without_a_token(tmp_path: Path, clock: FrozenClock) -> None:
    async with serve_services(sqlite_settings(tmp_path), clock, host="0.0.0.0") as (url, _), \
            aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as r:
            assert r.status == 200 and "shegong_" in await r.text()
        # Through a reverse proxy on the same host the peer is loopback, but the request is someone else's.
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            async with http.get(f"{url}/metrics", headers={header: "203.0.113.9"}) as r:
                assert r.status == 403, header
        if (address := outside_address()) is not None:
            async with http.get(url.replace("127.0.0.1", address) + "/metrics") as r:
                assert r.status == 403


async def test_metrics_with_a_token_answer_remote_scrapers_that_send_it(tmp_path: Path, clock: FrozenClock) -> None:
    settings = sqlite_settings(tmp_path, metrics_token="scrape-token")
    async with serve_services(settings, clock, host="0.0.0.0") as (url, _), aiohttp.ClientSession() as http:
        forwarded = {"X-Forwarded-For": "203.0.113.9"}
        async with http.get(f"{url}/metrics", headers=forwarded) as r:
            assert r.status == 401
        async with http.get(f"{url}/metrics", headers={**forwarded, "Authorization": "Bearer scrape-token"}) as r:
            assert r.status == 200


def test_compose_publishes_the_bots_on_loopback_only() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert published["bot1"] and published["bot2"]
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


# -- files ---------------------------------------------------------------------------------------------------
async def test_data_directory_database_key_and_exports_are_private(tmp_path: Path, clock: FrozenClock) -> None:
    old_umask = os.umask(0o022)  # the usual default, under which files are world-readable
    try:
        data = tmp_path / "data"
        settings = Settings(data_dir=data, database_url="", _env_file=None)
        async with serve_services(settings, clock) as (url, _), aiohttp.ClientSession() as http:
            async with http.post(f"{url}/api/chat", json={"text": "低保怎么申请"}) as r:
                assert r.status == 200  # something written, so SQLite's -wal and -shm files exist
            assert mode(data) == 0o700
            files = {p.name: mode(p) for p in data.iterdir()}
            assert {"shegong.db", "secret.key"} <= set(files)
            assert all(m == 0o600 for m in files.values()), files
        # A data directory that exists with looser permissions is tightened at start-up.
        data.chmod(0o755)
        async with serve_services(settings, clock):
            assert mode(data) == 0o700
    finally:
        os.umask(old_umask)


# -- DEBUG logs ----------------------------------------------------------------------------------------------
@pytest.fixture
def restore_log_levels() -> Iterator[None]:
    names = ["", *QUIET_LOGGERS]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")
async def test_debug_logs_hold_no_bot_token_and_no_message_text(tmp_path: Path, clock: FrozenClock,
                                                                caplog: pytest.LogCaptureFixture,
                                                                restore_log_levels: None) -> None:
    fake = FakeTelegram(token=REAL_LOOKING_TOKEN)
    await fake.start()
    settings = sqlite_settings(tmp_path, telegram_token=REAL_LOOKING_TOKEN, telegram_webhook_secret=SECRET,
                               telegram_api_base=fake.api_base, log_level="DEBUG")
    try:
        caplog.set_level(logging.DEBUG)
        setup_logging(settings.log_level)
        async with serve_services(settings, clock, channels=telegram_only) as (url, _), \
                aiohttp.ClientSession() as http:
            update = text_update(1, 4242, "我叫张桂英，想问低保怎么申请")
            async with http.post(f"{url}{telegram.WEBHOOK_PATH}", json=update,
                                 headers={telegram.SECRET_HEADER: SECRET}) as r:
                assert r.status == 200
            [sent] = await fake.wait_for("sendMessage")
            await asyncio.sleep(0.2)  # the outbox marks the message sent (and logs) after Telegram's answer
    finally:
        await fake.stop()
    logged = caplog.text
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG was on
    assert REAL_LOOKING_TOKEN.split(":")[1] not in logged
    assert "张桂英" not in logged and "想问低保" not in logged
    assert sent["text"].splitlines()[0] not in logged


# -- every response ------------------------------------------------------------------------------------------
async def test_every_response_forbids_framing_and_sniffing(tmp_path: Path, clock: FrozenClock) -> None:
    async with serve_services(sqlite_settings(tmp_path), clock) as (url, services), aiohttp.ClientSession() as http:
        document = services.knowledge.current().documents[0].path
        requests = [("GET", "/chat"), ("GET", f"/docs/{document}"), ("GET", "/docs/no/such.md"),
                    ("GET", "/chat/static/chat.js"), ("GET", "/chat/static/chat.css"), ("GET", "/healthz"),
                    ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/api/chat"), ("GET", "/no-such-page")]
        for method, path in requests:
            async with http.request(method, f"{url}{path}") as r:
                headers = r.headers
                assert headers.get("X-Frame-Options") == "DENY", path
                assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), path
                assert headers.get("X-Content-Type-Options") == "nosniff", path
                assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), path
        async with http.get(f"{url}/chat") as r:  # the page's own policy is kept, framing added to it
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]


# -- start-up ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
async def test_unreachable_database_at_start_up_is_one_line_and_exit_2(tmp_path: Path, database: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    if database == "postgresql":  # nothing listens on port 1
        env |= {"SHEGONG_DATABASE_URL": "postgresql+asyncpg://shegong:pw@127.0.0.1:1/shegong",
                "SHEGONG_SECRET_KEY": generate_key(), "SHEGONG_DATA_DIR": str(tmp_path / "data")}
    else:  # the data directory cannot be created: a file is in the way
        (tmp_path / "occupied").write_text("x")
        env |= {"SHEGONG_DATA_DIR": str(tmp_path / "occupied" / "data")}
    proc = await asyncio.create_subprocess_exec(str(SHEGONG), "serve", "--port", "0", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    text = err.decode()
    # `serve` logs JSON lines (libraries' INFO records); the failure itself is one plain line.
    plain = [line for line in text.strip().splitlines() if not line.startswith("{")]
    assert proc.returncode == 2, text
    assert len(plain) == 1 and "无法连接数据库" in plain[0], text
    assert "Traceback" not in text and '"level": "ERROR"' not in text
    assert "pw@" not in text  # the password stays out


# -- dependencies --------------------------------------------------------------------------------------------
def runtime_requirements() -> list[Requirement]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return [Requirement(line) for line in tomllib.load(f)["project"]["dependencies"]]


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version and " " not in line, f"requirements.lock: not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_runtime_dependency_has_an_upper_bound() -> None:
    for requirement in runtime_requirements():
        assert any(spec.operator in ("<", "<=", "~=", "==") for spec in requirement.specifier), str(requirement)


def test_lock_pins_every_runtime_dependency_within_its_range_and_the_image_installs_it() -> None:
    pins = locked()
    for requirement in runtime_requirements():
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name}=={version}"
    generated = subprocess.run([sys.executable, str(REPO / "tools" / "lock_requirements.py")], check=True,
                               capture_output=True, text=True).stdout
    names = {canonicalize_name(line.partition("==")[0]) for line in generated.splitlines() if "==" in line}
    assert names == set(pins)  # the documented command still produces this set of distributions
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "-r requirements.lock" in dockerfile and "--no-deps ." in dockerfile
    assert dockerfile.index("-r requirements.lock") < dockerfile.index("--no-deps .")
