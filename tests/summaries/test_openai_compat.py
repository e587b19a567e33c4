"""The OpenAI-compatible backend and batch files against a real ``llama_cpp.server`` on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from _support import SEMCSE, free_port, wait_for
from semcse.config import CorpusConfig, SamplingConfig, SummarizeConfig
from semcse.summaries import SummaryStore, summarize
from semcse.summaries.backends.base import BackendError
from semcse.summaries.backends.openai_compat import OpenAICompatBackend
from semcse.summaries.batch import parse_custom_id, read_batch_results, write_batch_requests


class LocalServer:
    """A real llama_cpp.server process with the SmolLM2 GGUF; start/stop at will."""

    def __init__(self, gguf, port):
        self.gguf, self.port, self.proc = gguf, port, None
        self.url = f"http://127.0.0.1:{port}/v1"

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", "smollm2",
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--verbose", "False"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode} before it answered")
            try:
                urllib.request.urlopen(self.url + "/models", timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("llama_cpp.server did not start")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None


@pytest.fixture(scope="module")
def server(gguf_path):
    srv = LocalServer(gguf_path, free_port())
    srv.start()
    yield srv
    srv.stop()


def _cfg(data_root, out, url, **kw):
    base = dict(corpus=CorpusConfig(source=str(data_root / "scitldr" / "dev.jsonl")), out=str(out), backend="openai",
                base_urls=(url,), max_prompts=2, samples=2, sampling=SamplingConfig(max_tokens=24), limit=3,
                concurrency=2, max_retries=1, request_timeout=60, progress=False)
    base.update(kw)
    return SummarizeConfig(**base)


def test_summarize_through_the_server(tmp_path, data_root, server):
    res = summarize(_cfg(data_root, tmp_path / "run", server.url))
    assert res.ok, res.error
    assert res.stats["model"] == "smollm2" and res.stats["this_run"]["generated"] == 12
    recs = SummaryStore(tmp_path / "run").records(status=None)
    assert len(recs) == 12 and all(r.model == "smollm2" for r in recs)
    texts = {(r.paper_id, r.prompt_id): [] for r in recs}
    for r in recs:
        texts[(r.paper_id, r.prompt_id)].append(r.text)
    assert any(len(set(v)) > 1 for v in texts.values())  # per-sample seeds give different samples
    again = summarize(_cfg(data_root, tmp_path / "run", server.url))
    assert again.stats["this_run"]["generated"] == 0


def test_unreachable_server_is_a_clear_error_at_start():
    with pytest.raises(BackendError, match=r"cannot reach the server at http://127.0.0.1:\d+/v1"):
        OpenAICompatBackend([f"http://127.0.0.1:{free_port()}/v1"], max_retries=0)


def test_hung_server_is_reported_within_the_request_timeout():
    import socket

    with socket.socket() as hung:  # accepts connections, never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        start = time.monotonic()
        with pytest.raises(BackendError, match="cannot reach the server"):
            OpenAICompatBackend([f"http://127.0.0.1:{hung.getsockname()[1]}/v1"], timeout=2, max_retries=3)
        assert time.monotonic() - start < 10  # the user's --request-timeout, not a fixed 10 s x 2


def test_malformed_model_list_is_a_clear_error():
    import http.server
    import threading

    class Broken(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": [oops')

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(BackendError, match="answered something that is not an OpenAI model list"):
            OpenAICompatBackend([f"http://127.0.0.1:{httpd.server_address[1]}/v1"], timeout=5)
    finally:
        httpd.shutdown()


def test_server_stopped_mid_run_keeps_progress_and_resumes(tmp_path, data_root, gguf_path):
    srv = LocalServer(gguf_path, free_port())
    srv.start()
    out = tmp_path / "run"
    args = ["summarize", "--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "12", "--out", str(out),
            "--backend", "openai", "--base-url", srv.url, "--max-prompts", "1", "--samples", "2", "--max-tokens", "24",
            "--concurrency", "1", "--max-retries", "1", "--request-timeout", "20", "--no-progress"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as errfile:
        proc = subprocess.Popen(SEMCSE + args, stdout=subprocess.DEVNULL, stderr=errfile, text=True)
    seg = out / "records" / "main.jsonl"
    wait_for(proc, lambda: seg.exists() and seg.read_bytes().count(b"\n") >= 4, 300, "4 records", log)
    srv.stop()
    proc.wait(timeout=300)
    err = log.read_text()
    kept = SummaryStore(out).keys()
    assert proc.returncode == 1, err
    assert "rerun the same command to continue" in err and 4 <= len(kept) < 24
    srv.start()
    try:
        done = subprocess.run(SEMCSE + args, capture_output=True, text=True, timeout=600)  # same command
    finally:
        srv.stop()
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in seg.read_text().splitlines()]
    keys = [(r["paper_id"], r["prompt_id"], r["sample"]) for r in lines]
    assert len(keys) == len(set(keys)) == 24 and kept <= set(keys)


def test_batch_file_roundtrip_with_results_from_the_real_server(tmp_path, data_root, server):
    cfg = _cfg(data_root, tmp_path / "run", server.url, server_model="smollm2", limit=2)
    files = write_batch_requests(cfg, max_requests_per_file=5)
    assert [n for _, n in files] == [5, 3]  # 2 papers x 2 prompts x 2 samples, split at 5
    # act as the batch engine (vllm run-batch / a hosted batch API): send each body, write results
    results = tmp_path / "results.jsonl"
    with results.open("w") as out_fh:
        lines = [json.loads(line) for path, _ in files for line in path.read_text().splitlines()]
        for req in lines[:-1]:
            assert req["method"] == "POST" and req["url"] == "/v1/chat/completions"
            http = urllib.request.Request(server.url + "/chat/completions", data=json.dumps(req["body"]).encode(),
                                          headers={"Content-Type": "application/json"})
            body = json.loads(urllib.request.urlopen(http, timeout=120).read())
            out_fh.write(json.dumps({"id": "b", "custom_id": req["custom_id"], "response": {"status_code": 200, "body": body}, "error": None}) + "\n")
        # the engine failed the last request
        out_fh.write(json.dumps({"id": "b", "custom_id": lines[-1]["custom_id"], "response": None,
                                 "error": {"code": "server_error", "message": "boom"}}) + "\n")
    stats = read_batch_results(tmp_path / "run", [results])
    assert stats["imported"] == 7 and stats["failed"] == 1
    assert stats["accepted"] + sum(stats["rejected"].values()) + sum(stats["failed_records"].values()) == 7
    keys = SummaryStore(tmp_path / "run").keys()
    assert len(keys) == 7 and all(parse_custom_id(f"{p}::{q}::{s}") == (p, q, s) for p, q, s in keys)
    assert read_batch_results(tmp_path / "run", [results])["already_present"] == 7
    # only the failed request is asked for again
    again = write_batch_requests(cfg, max_requests_per_file=5)
    assert [n for _, n in again] == [1]
    assert json.loads(again[0][0].read_text())["custom_id"] == lines[-1]["custom_id"]


class FlakyProxy:
    """Loopback HTTP proxy in front of the real server that fails the first requests: an int is an HTTP
    status code, ``"{}"`` a 200 reply whose body is an empty JSON object, ``"malformed"`` a 200 reply that
    is not JSON, ``"hang"`` no answer for ``hang_s`` seconds, ``"reset"`` a connection closed without a reply."""

    def __init__(self, target: str, failures: list[int | str], hang_s: float = 5.0):
        import http.server
        import socket
        import struct
        import threading

        self.failures, self.seen = list(failures), []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _forward(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append(self.path)
                if method == "POST" and proxy.failures:
                    code = proxy.failures.pop(0)
                    if code == "hang":
                        time.sleep(hang_s)
                        self.close_connection = True
                        return
                    if code == "reset":  # RST instead of an answer
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.close_connection = True
                        return
                    if code == "malformed":
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        self.wfile.write(b'{"choices": [{"message": {"content": "half')
                        self.close_connection = True
                        return
                    self.send_response(200 if code == "{}" else code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b"{}" if code == "{}" else json.dumps({"error": {"message": f"injected {code}"}}).encode())
                    return
                req = urllib.request.Request(target + self.path.removeprefix("/v1"), data=body, method=method,
                                             headers={"Content-Type": "application/json"})
                data = urllib.request.urlopen(req, timeout=120).read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_429_and_5xx_are_retried(tmp_path, data_root, server):
    proxy = FlakyProxy(server.url, [503, 429, 500])
    try:
        res = summarize(_cfg(data_root, tmp_path / "run", proxy.url, limit=1, max_prompts=1, samples=1, max_retries=4, concurrency=1,
                             sampling=SamplingConfig(max_tokens=96)))  # long enough not to be cut (a failure of its own)
    finally:
        proxy.close()
    assert res.ok, res.error
    assert len(SummaryStore(tmp_path / "run").keys()) == 1
    assert sum(p.endswith("/chat/completions") for p in proxy.seen) == 4  # 3 failures + the success


def test_bad_request_is_recorded_not_fatal(tmp_path, data_root, server):
    # a 400 (e.g. prompt too long for the server) is this request's problem, not the server's
    proxy = FlakyProxy(server.url, [400])
    try:
        res = summarize(_cfg(data_root, tmp_path / "run", proxy.url, limit=1, max_prompts=1, samples=2, concurrency=1,
                             sampling=SamplingConfig(max_tokens=128)))
    finally:
        proxy.close()
    assert res.ok
    recs = SummaryStore(tmp_path / "run").records(status=None)
    failed = [r for r in recs if r.status == "failed"]
    assert len(recs) == 2 and len(failed) == 1 and "HTTP 400" in failed[0].params["error"]
    assert res.stats["this_run"]["failed"] == {"HTTP 400": 1} and res.stats["store"]["failed_by_cause"] == {"HTTP 400": 1}
    assert len(SummaryStore(tmp_path / "run").records("ok")) + len(SummaryStore(tmp_path / "run").records("rejected")) == 1


LONG = SamplingConfig(max_tokens=128)  # long enough that SmolLM2's summaries are not cut (a failure of its own)


def test_failed_generations_are_retried_by_the_next_run(tmp_path, data_root, server):
    out = tmp_path / "run"
    proxy = FlakyProxy(server.url, [400, "{}"])  # every request of the first run fails: a 400 and an empty reply
    try:
        first = summarize(_cfg(data_root, out, proxy.url, limit=1, max_prompts=1, samples=2, concurrency=1, sampling=LONG))
    finally:
        proxy.close()
    assert not first.ok and first.error.startswith("all 2 generations failed; first cause:")
    assert first.stats["store"]["accepted"] == 0 and first.stats["store"]["failed_by_cause"] == {"HTTP 400": 1, "empty reply": 1}
    skipped = summarize(_cfg(data_root, out, server.url, limit=1, max_prompts=1, samples=2, retry_failed=False, sampling=LONG))
    assert skipped.stats["this_run"]["generated"] == 0  # --no-retry-failed, same settings: nothing to do
    again = summarize(_cfg(data_root, out, server.url, limit=1, max_prompts=1, samples=2, sampling=LONG))  # same command, good server
    assert again.ok and again.stats["this_run"]["generated"] == 2 and again.stats["already_present"] == 0
    store = SummaryStore(out)
    assert store.keys(include_failed=False) == store.keys() and len(store) == 2
    assert again.stats["store"]["failed_by_cause"] == {} and again.stats["store"]["missing"] == 0


def test_a_changed_token_limit_makes_truncated_records_eligible_again(tmp_path, data_root, server):
    out = tmp_path / "run"
    cut = summarize(_cfg(data_root, out, server.url, limit=2, max_prompts=1, samples=1, sampling=SamplingConfig(max_tokens=2),
                         retry_failed=False))
    failed = [r for r in SummaryStore(out).iter_all() if r.status == "failed"]
    assert failed and all("max_tokens=2" in r.params["error"] for r in failed)
    same = summarize(_cfg(data_root, out, server.url, limit=2, max_prompts=1, samples=1, sampling=SamplingConfig(max_tokens=2),
                          retry_failed=False))
    assert same.stats["this_run"]["generated"] == 0
    raised = summarize(_cfg(data_root, out, server.url, limit=2, max_prompts=1, samples=1, sampling=SamplingConfig(max_tokens=64),
                            retry_failed=False))
    assert raised.stats["this_run"]["generated"] == len(failed) and cut.stats["expected_records"] == 2
    assert not [r for r in SummaryStore(out).iter_all() if r.status == "failed"]


def test_a_mix_of_server_faults_then_a_clean_server_accepts_every_record_once(tmp_path, data_root, server):
    """Every kind of fault a server shows, in one run; the rerun against a clean server completes the store."""
    out = tmp_path / "run"
    faults = [400, 429, "hang", 500, "{}", "reset", "malformed", 503, "hang", "reset"]
    proxy = FlakyProxy(server.url, faults, hang_s=6)
    try:
        first = summarize(_cfg(data_root, out, proxy.url, limit=2, max_prompts=2, samples=2, concurrency=1, max_retries=3,
                               request_timeout=3, sampling=LONG))
    finally:
        proxy.close()
    assert not proxy.failures, first.error  # every fault was served
    causes = first.stats["this_run"]["failed"]
    assert causes.get("HTTP 400") == 1 and causes.get("empty reply") == 1 and sum(causes.values()) >= 3, causes
    assert any("malformed" in c for c in causes), causes
    again = summarize(_cfg(data_root, out, server.url, limit=2, max_prompts=2, samples=2, sampling=LONG))
    assert again.ok, again.error
    final = {}
    for r in SummaryStore(out).iter_all():
        final[(r.paper_id, r.prompt_id, r.sample)] = r.status
    assert len(final) == 8 and "failed" not in final.values()
    lines = [json.loads(x) for x in (out / "records" / "main.jsonl").read_text().splitlines()]
    answered = [(r["paper_id"], r["prompt_id"], r["sample"]) for r in lines if r["status"] != "failed"]
    assert sorted(answered) == sorted(final)  # each expected record answered exactly once


def test_unreachable_server_on_the_command_line_is_one_true_line(tmp_path, data_root):
    url = f"http://127.0.0.1:{free_port()}/v1"
    res = subprocess.run(SEMCSE + ["summarize", "--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "1",
                                   "--out", str(tmp_path / "o"), "--backend", "openai", "--base-url", url,
                                   "--max-retries", "0", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert res.returncode in (1, 2) and f"cannot reach the server at {url}" in res.stderr
    assert "nothing to generate" not in res.stderr and "Traceback" not in res.stderr
