"""Server mode: a real `chroma run` on loopback, reached through HttpClient."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from realm.kg.embedders import HashingEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.kg.index import ChromaIndex, build_index, check_index
from realm.kg.linker import Linker
from realm.records import Node


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_index_and_link_through_a_chroma_server(tmp_path: Path) -> None:
    chroma = shutil.which("chroma")
    if chroma is None:
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma server did not start (exit code {proc.poll()})")
            time.sleep(0.2)
        kg = KnowledgeGraph.from_nodes_edges(
            [
                Node("HP:1", "High palate", "phenotype", ("High arched palate",)),
                Node("HP:2", "Short stature", "phenotype"),
            ],
            [],
            name="server-kg",
        )
        emb = HashingEmbedder(dim=64)
        index = ChromaIndex.for_kg(kg.name, emb.model_id, host="127.0.0.1", port=port)
        assert build_index(kg, emb, index, progress=False).added == 3
        reopened = ChromaIndex.for_kg(kg.name, emb.model_id, host="127.0.0.1", port=port)
        check_index(reopened, kg, emb)
        assert reopened.count() == 3
        assert Linker(kg, emb, reopened).link("high arched palat")[0].node_id == "HP:1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
