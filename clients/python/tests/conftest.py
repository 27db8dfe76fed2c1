"""Starts a real Tivo gateway (embedded mode, demo data) from the Release build, on free loopback ports."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "server" / "Tivo.Server" / "bin" / "Release" / "net10.0" / "Tivo.Server.dll"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gateway():
    if not GATEWAY.exists():
        raise RuntimeError(f"Build the server first (dotnet build Tivo.sln -c Release): {GATEWAY} is missing")
    folder = tempfile.mkdtemp(prefix="tivo-py-")
    port = _free_port()
    process = subprocess.Popen(
        ["dotnet", str(GATEWAY), "--urls", f"http://127.0.0.1:{port}", "--Tivo:Store:Path", os.path.join(folder, "tivo.db"),
         "--Logging:LogLevel:Default", "Warning"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited: {process.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            process.kill()
            raise RuntimeError("the gateway did not become healthy within 90 s")
        time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(folder, ignore_errors=True)
