"""``semcse embed`` / ``semcse search`` on real abstracts with the offline MiniLM."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from _support import SEMCSE, wait_for
from semcse.config import CorpusConfig, EmbedConfig
from semcse.corpus import load_corpus
from semcse.embed import EmbedError, embed_corpus
from semcse.encode import load_encoder
from semcse.search import SearchError, SearchIndex, VectorIndex


@pytest.fixture(scope="module")
def encoder(minilm_path):
    return load_encoder(minilm_path)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, data_root, minilm_path, encoder):
    out = tmp_path_factory.mktemp("idx")
    cfg = EmbedConfig(corpus=CorpusConfig(source=str(data_root / "scitldr" / "dev.jsonl"), limit=60), model=minilm_path,
                      out=str(out), chunk_size=25, progress=False)
    res = embed_corpus(cfg, encoder=encoder)
    assert res.count == 60 and res.dim == 384 and res.encoded == 60
    return out


def test_index_files(index_dir, data_root):
    import pyarrow.parquet as pq

    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["complete"] and manifest["similarity"] == "cosine" and manifest["count"] == 60
    vecs = np.load(index_dir / "embeddings.npy")
    table = pq.read_table(index_dir / "embeddings.parquet")
    assert vecs.shape == (60, 384) and table.num_rows == 60
    assert np.allclose(np.array(table.column("vector").to_pylist()[5]), vecs[5])
    ids = [p.id for p in load_corpus(data_root / "scitldr" / "dev.jsonl", limit=60)]
    assert table.column("id").to_pylist() == ids


def test_a_papers_own_title_finds_it_in_the_top_3(index_dir, data_root, encoder):
    papers = load_corpus(data_root / "scitldr" / "dev.jsonl", limit=60).papers
    idx = SearchIndex(index_dir, encoder=encoder)
    results = idx.search([p.title for p in papers[:20]], k=3)
    found = [p.id in {h.id for h in hits} for p, hits in zip(papers, results)]
    assert sum(found) >= 19, found
    assert all(hits[0].score >= hits[1].score >= hits[2].score for hits in results)


def test_exact_and_hnsw_agree(encoder):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3000, 32)).astype(np.float32)
    q = vecs[:20] + 0.01 * rng.normal(size=(20, 32)).astype(np.float32)
    for sim in ("cosine", "euclidean"):
        _, exact = VectorIndex(vecs, sim, "exact").query(q, 5)
        _, approx = VectorIndex(vecs, sim, "hnsw").query(q, 5)
        assert (exact[:, 0] == np.arange(20)).all()
        assert (approx[:, 0] == exact[:, 0]).mean() >= 0.95


def test_exact_search_gives_the_top_k_of_the_models_own_distance():
    import torch

    from semcse.similarity import get_distance

    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=(7, 16)).astype(np.float32)
    for sim in ("cosine", "euclidean"):
        scores, idx = VectorIndex(vecs, sim, "exact").query(q, 10)
        dist = get_distance(sim).pairwise(torch.from_numpy(q), torch.from_numpy(vecs)).numpy()
        expected = np.argsort(dist, axis=1, kind="stable")[:, :10]
        np.testing.assert_array_equal(idx, expected)
        best = np.take_along_axis(dist, expected, axis=1)
        np.testing.assert_allclose(scores, 1 - best if sim == "cosine" else -best, atol=1e-4)


def test_resume_skips_finished_chunks(tmp_path, data_root, minilm_path, encoder):
    cfg = EmbedConfig(corpus=CorpusConfig(source=str(data_root / "scitldr" / "dev.jsonl"), limit=30), model=minilm_path,
                      out=str(tmp_path / "i"), chunk_size=10, progress=False)
    first = embed_corpus(cfg, encoder=encoder)
    full = np.load(tmp_path / "i" / "embeddings.npy")
    (tmp_path / "i" / "chunks" / "000001.npy").unlink()  # as if killed while encoding chunk 1
    again = embed_corpus(cfg, encoder=encoder)
    assert first.encoded == 30 and again.encoded == 10
    assert np.allclose(np.load(tmp_path / "i" / "embeddings.npy"), full, atol=1e-5)


def test_kill_9_mid_embed_then_resume(tmp_path, data_root, minilm_path):
    import os
    import signal

    out = tmp_path / "k"
    args = SEMCSE + ["embed", "--model", minilm_path, "--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "120",
                     "--out", str(out), "--chunk-size", "20", "--no-progress"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    wait_for(proc, lambda: len(list((out / "chunks").glob("0*.npy"))) >= 2, 300, "2 chunks", log)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "chunks").glob("0*.npy")))
    assert 2 <= done < 6
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert np.load(out / "embeddings.npy").shape == (120, 384)
    assert json.loads((out / "manifest.json").read_text())["complete"]


def test_bad_inputs(tmp_path, index_dir, data_root, minilm_path, encoder):
    other = load_encoder(minilm_path, pooling="cls")  # same weights, different model (pooling)
    with pytest.raises(SearchError, match="different model"):
        SearchIndex(index_dir, encoder=other)
    idx = SearchIndex(index_dir, encoder=encoder)
    with pytest.raises(SearchError, match=r"tokens; the model reads at most 256"):
        idx.search("graph neural networks " * 200)
    assert len(idx.search("graph neural networks " * 200, k=2, truncate=True)[0]) == 2
    with pytest.raises(SearchError, match="empty query"):
        idx.search("   ")
    with pytest.raises(SearchError, match="not an index"):
        SearchIndex(tmp_path, encoder=encoder)
    (tmp_path / "manifest.json").write_text(json.dumps({"complete": True, "count": 0}))
    with pytest.raises(SearchError, match="empty"):
        SearchIndex(tmp_path, encoder=encoder)
    with pytest.raises(EmbedError, match="another corpus"):
        embed_corpus(EmbedConfig(corpus=CorpusConfig(source=str(data_root / "scitldr" / "dev.jsonl"), limit=10), model=minilm_path,
                                 out=str(index_dir), chunk_size=25, progress=False), encoder=encoder)


def test_cli_search_json(index_dir, data_root):
    title = load_corpus(data_root / "scitldr" / "dev.jsonl", limit=1).papers[0].title
    res = subprocess.run(SEMCSE + ["search", "--index", str(index_dir), "--json", "-k", "2", title], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout.strip().splitlines()[-1])["hits"]
    assert len(hits) == 2 and hits[0]["title"] == title


def test_relative_model_path_and_a_newline_in_an_id(tmp_path, minilm_path):
    import os

    corpus = tmp_path / "papers.jsonl"
    corpus.write_text("".join(json.dumps({"id": pid, "title": title, "abstract": title + " in detail."}) + "\n" for pid, title in [
        ("p1", "Graph neural networks for molecules"), ("bad\nid", "Protein structure prediction"), ("p3", "Sentence embeddings")]))
    relative = os.path.relpath(minilm_path, tmp_path)
    made = subprocess.run(SEMCSE + ["embed", "--model", relative, "--corpus", "papers.jsonl", "--out", "idx", "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["model"] == str(Path(minilm_path).resolve())
    found = subprocess.run(SEMCSE + ["search", "--index", str(tmp_path / "idx"), "protein folding", "-k", "3"],
                           capture_output=True, text=True, timeout=300, cwd="/")  # another directory
    assert found.returncode == 0, found.stderr
    hits = found.stdout.splitlines()[1:]
    assert len(hits) == 3 and any("bad\\nid" in h for h in hits)  # the newline is escaped: one line per hit
    (tmp_path / "idx" / "embeddings.npy").write_bytes(b"\x93NUMPY garbage")  # a damaged index: one line, exit 2
    broken = subprocess.run(SEMCSE + ["search", "--index", str(tmp_path / "idx"), "protein"], capture_output=True, text=True,
                            timeout=300)
    assert broken.returncode == 2 and "index files are damaged" in broken.stderr and "Traceback" not in broken.stderr
