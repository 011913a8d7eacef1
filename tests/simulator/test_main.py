"""``python -m simulator`` as a user runs it: it prints each venue's URLs and credentials and the
admin API's bearer token, and that token (and only it) opens ``/_sim``."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


async def test_python_m_simulator_prints_the_admin_token_that_opens_the_admin_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator", "--symbols", "BTC/USDT", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        lines: list[str] = []
        async with asyncio.timeout(30):
            assert proc.stdout is not None
            while not (lines and lines[-1].startswith("faults:")):
                line = (await proc.stdout.readline()).decode()
                assert line, "the simulator exited: " + "".join(lines)
                lines.append(line)
        text = "".join(lines)
        [token] = re.findall(r"^admin token (\S+)", text, re.M)
        admin = re.findall(r"admin (http://\S+/_sim)", text)
        assert len(admin) == 3 and len(token) >= 32
        async with aiohttp.ClientSession() as http:
            for url in admin:
                async with http.get(f"{url}/faults") as r:
                    assert r.status == 401
                async with http.get(f"{url}/faults", headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200 and "armed" in await r.json()
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            await proc.wait()
