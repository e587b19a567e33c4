"""Any OpenAI-compatible chat completions server: vLLM, llama.cpp server, Ollama, hosted APIs.

Requests of one paper go to the same base URL (so a server's prefix cache sees the shared
abstract), papers are spread over all base URLs, and at most ``concurrency`` requests are in
flight. Timeouts, connection errors, 429 and 5xx are retried with exponential backoff by the
``openai`` client; when retries are exhausted the backend yields what has finished and raises.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Iterable, Iterator

from semcse.config import SamplingConfig
from semcse.hashing import stable_int
from semcse.summaries.backends.base import BackendError, Generation, PaperJob, Request

log = logging.getLogger(__name__)


def request_body(model: str, req: Request, sampling: SamplingConfig, paper_id: str) -> dict:
    """The JSON body of one chat completion, as sent to servers and written to batch files."""
    body: dict = {
        "model": model,
        "messages": req.messages,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        # distinct, reproducible seed per (paper, prompt, sample): samples of one prompt must differ
        "seed": stable_int(sampling.seed, paper_id, req.prompt_id, req.sample),
    }
    if req.stop:
        body["stop"] = list(req.stop)
    if sampling.top_k:
        body["top_k"] = sampling.top_k
    if sampling.repeat_penalty != 1.0:
        body["repetition_penalty"] = sampling.repeat_penalty
    return body


def generation_from_response(req: Request, data: dict) -> Generation:
    """Turn a chat completion response (dict) into a :class:`Generation`."""
    choice = (data.get("choices") or [{}])[0]
    usage = data.get("usage") or {}
    text = (choice.get("message") or {}).get("content") or ""
    return Generation(
        req.prompt_id, req.sample, text, tokens=int(usage.get("completion_tokens") or 0),
        prompt_tokens=int(usage.get("prompt_tokens") or 0), finish_reason=choice.get("finish_reason") or "stop",
    )


def _failed(req: Request, error: str) -> Generation:
    """A request that got no usable answer: stored as failed with ``error`` (its cause) and retried next run."""
    return Generation(req.prompt_id, req.sample, "", finish_reason="error", extra={"error": error[:500]})


class OpenAICompatBackend:
    """Chat completions against one or more OpenAI-compatible base URLs."""

    def __init__(
        self, base_urls: Iterable[str], model: str | None = None, api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8, timeout: float = 120.0, max_retries: int = 5, check: bool = True,
    ):
        import openai

        self._openai = openai
        urls = [u.rstrip("/") for u in base_urls]
        if not urls:
            raise BackendError("the openai backend needs at least one --base-url")
        api_key = os.environ.get(api_key_env) or "sk-no-key"
        self.clients = [openai.OpenAI(base_url=u, api_key=api_key, timeout=timeout, max_retries=max_retries) for u in urls]
        self.base_urls = urls
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.model_name = model or ""
        if check:
            self._check(model)

    def _check(self, model: str | None) -> None:
        for url, client in zip(self.base_urls, self.clients):
            try:
                # one try within the user's --request-timeout: a hung server is reported in that time
                models = [m.id for m in client.with_options(max_retries=0, timeout=self.timeout).models.list()]
            except self._openai.APIConnectionError as exc:
                raise BackendError(f"cannot reach the server at {url} ({exc.__class__.__name__}: {exc}); is it running?") from exc
            except self._openai.APIStatusError as exc:
                if exc.status_code in (401, 403):
                    raise BackendError(f"{url} refused the API key (HTTP {exc.status_code}); set it in the environment variable named by --api-key-env") from exc
                models = []  # some servers have no /models; go on
            except (self._openai.APIError, ValueError, TypeError, AttributeError) as exc:  # e.g. malformed JSON
                raise BackendError(f"{url}/models answered something that is not an OpenAI model list "
                                   f"({exc.__class__.__name__}: {exc}); is this an OpenAI-compatible server?") from exc
            if not self.model_name:
                if not models:
                    raise BackendError(f"{url} lists no models; name one with --server-model")
                self.model_name = models[0]
        log.info("openai backend: %s on %s", self.model_name, ", ".join(self.base_urls))

    def _one(self, client, job: PaperJob, req: Request, sampling: SamplingConfig) -> Generation:
        body = request_body(self.model_name, req, sampling, job.paper_id)
        extra = {k: body.pop(k) for k in ("top_k", "repetition_penalty") if k in body}
        try:
            resp = client.chat.completions.create(**body, extra_body=extra or None)
        except self._openai.BadRequestError as exc:  # this request is bad (e.g. too long), not the server
            return _failed(req, f"HTTP 400: {exc.message}")
        except (ValueError, self._openai.APIResponseValidationError) as exc:  # a reply that is not a chat completion
            return _failed(req, f"malformed reply: {exc.__class__.__name__}: {exc}")
        if not hasattr(resp, "model_dump"):  # a 200 whose body is not JSON comes back as text
            return _failed(req, f"malformed reply: not JSON: {str(resp)[:200]!r}")
        return generation_from_response(req, resp.model_dump())

    def run(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]:
        jobs_iter = iter(jobs)
        pending: dict[Future, int] = {}
        open_jobs: dict[int, tuple[PaperJob, list[Generation], list[int]]] = {}
        error: BaseException | None = None
        next_id = 0
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="semcse-http") as pool:

            def fill() -> None:
                nonlocal next_id
                while len(pending) < 2 * self.concurrency:
                    job = next(jobs_iter, None)
                    if job is None:
                        return
                    client = self.clients[stable_int(job.paper_id) % len(self.clients)]
                    jid, next_id = next_id, next_id + 1
                    open_jobs[jid] = (job, [], [len(job.requests)])
                    for req in job.requests:
                        pending[pool.submit(self._one, client, job, req, sampling)] = jid

            fill()
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    jid = pending.pop(fut)
                    job, gens, left = open_jobs[jid]
                    left[0] -= 1
                    try:
                        gens.append(fut.result())
                    except Exception as exc:  # retries exhausted: stop taking new work
                        error = error or exc
                    if left[0] == 0:
                        del open_jobs[jid]
                        if gens:
                            yield job, gens
                if error is None:
                    fill()
                else:
                    for f in pending:
                        f.cancel()
                    pending = {f: j for f, j in pending.items() if not f.cancelled()}
        for job, gens, _ in open_jobs.values():  # papers cut short by the error: keep what finished
            if gens:
                yield job, gens
        if error is not None:
            raise BackendError(f"server request failed after retries: {error.__class__.__name__}: {error}") from error

    def close(self) -> None:
        for c in self.clients:
            c.close()
