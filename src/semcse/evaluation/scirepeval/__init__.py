"""SciRepEval (allenai/scirepeval), read and scored the way its own code does.

- :mod:`.protocol`: their evaluator (``evaluation/evaluator.py``): the linear probes, the
  trec_eval measures over negative Euclidean distances, scores x 100, per-format averages;
- :mod:`.layout`: their data (``evaluation/eval_datasets.py`` and ``scirepeval.py``): the task
  config jsonl, the ``allenai/scirepeval`` / ``allenai/scirepeval_test`` datasets from the hub or
  from ``save_to_disk`` copies, their local files, and the ``training/sample_data`` formats.

The engines that use them are :mod:`semcse.evaluation.engines.classification`, ``.regression``,
``.proximity`` and ``.search``.
"""
