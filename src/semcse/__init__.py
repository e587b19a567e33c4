"""semcse: SemCSE embeddings for scientific text (summarize, train, evaluate, embed, search)."""

__version__ = "0.1.0"

# cited by the losses (sentence-transformers puts a loss's citation into the model card)
SEMCSE_CITATION = """
@inproceedings{brinner2025semcse,
    title={SemCSE: Semantic Contrastive Sentence Embeddings Using LLM-Generated Summaries For Scientific Abstracts},
    author={Marc Brinner and Sina Zarrie{\\ss}},
    booktitle={Proceedings of EMNLP 2025},
    year={2025},
    eprint={2507.13105},
    archivePrefix={arXiv}
}
"""
