"""Test-wide fixtures: no network, a private cache, paths to the shared real data."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("REALM_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    elif isinstance(address, (str, bytes)):
        return True  # AF_UNIX path: local by definition
    else:
        return False
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any socket connection outside loopback: tests never touch the network."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> object:
        if not _is_loopback(address):
            raise RuntimeError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: object) -> object:
        if not _is_loopback(address):
            raise RuntimeError(f"network access blocked in tests: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets the session's own cache root, never the user's ~/.cache/realm."""
    monkeypatch.setenv("REALM_CACHE", str(tmp_path_factory.getbasetemp() / "realm-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def physionet_root(shared_data: Path) -> Path:
    root = shared_data / "physionet2012"
    if not (root / "Outcomes-a.txt").is_file():
        pytest.skip("PhysioNet 2012 data not present")
    return root


@pytest.fixture(scope="session")
def bc8_train(shared_data: Path) -> Path:
    path = shared_data / "bc8-phenotypes" / "Clinical-Genetics-Physical-Exam-Data-Train.tsv"
    if not path.is_file():
        pytest.skip("BioCreative VIII Track 3 data not present")
    return path


@pytest.fixture(scope="session")
def prescriptions_csv(shared_data: Path) -> Path:
    path = shared_data / "mimic3-demo-prescriptions" / "PRESCRIPTIONS.csv"
    if not path.is_file():
        pytest.skip("MIMIC-III demo PRESCRIPTIONS not present")
    return path
