"""semcse: SemCSE embeddings for scientific text (summarize, train, evaluate, embed, search)."""

__version__ = "0.1.0"
