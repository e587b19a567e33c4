"""Child-process half of the doctor's llama.cpp check: load a GGUF, decode a long prompt, print JSON.

Run as ``python -m semcse.system.llama_selftest [--model PATH]``; the parent reads the JSON line
on stdout, or names the signal if this process dies (e.g. SIGILL from a build the CPU cannot run).
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="GGUF (default: the packaged SmolLM2-135M-Instruct)")
    parser.add_argument("--prompt-tokens", type=int, default=300)
    parser.add_argument("--gen-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    from semcse.summaries.backends.base import BackendError
    from semcse.summaries.backends.llamacpp import LlamaCppBackend

    try:
        backend = LlamaCppBackend(args.model, n_ctx=max(1024, args.prompt_tokens + args.gen_tokens + 128),
                                  n_threads=args.threads, n_parallel=1)
        try:
            result = backend.self_test(args.prompt_tokens, args.gen_tokens)
        finally:
            backend.close()
    except BackendError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
