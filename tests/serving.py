"""Helpers for tests and benchmarks that start a local server: a free port, and waiting until it answers."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_serving(client: httpx.AsyncClient, path: str, *, timeout_s: float) -> None:
    """Poll ``path`` until it answers 200 (every worker has loaded the app); TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (await client.get(path)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not answer {path} within {timeout_s:.0f} s")
        await asyncio.sleep(0.5)
