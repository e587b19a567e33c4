"""Stage 1: LLM summaries (and queries) of a corpus, resumable and shardable."""

from semcse.summaries.generate import SummarizeResult, summarize
from semcse.summaries.prompts import PromptSet, load_prompt_set
from semcse.summaries.store import SummaryRecord, SummaryStore

__all__ = ["summarize", "SummarizeResult", "SummaryStore", "SummaryRecord", "PromptSet", "load_prompt_set"]
