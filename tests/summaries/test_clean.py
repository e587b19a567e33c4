"""Cleaning and filtering of generated texts."""

from semcse.summaries.clean import RejectionCounter, TextFilter, clean_text

ABSTRACT = ("We propose a graph neural network for molecule property prediction. It uses message passing over bonds "
            "and attention over atoms. Experiments on QM9 show a 12% error reduction over prior work.")


def test_clean_strips_prefixes_quotes_and_chat_artefacts():
    assert clean_text('Summary: "A new GNN predicts molecule properties."') == "A new GNN predicts molecule properties."
    assert clean_text("Sure! Here is a one-sentence summary: **A GNN for molecules.**<|im_end|>") == "A GNN for molecules."
    assert clean_text("assistant\nThe paper studies graphs.") == "The paper studies graphs."
    # the labels small models put before title-like outputs
    assert clean_text("New title: Graph Networks for Molecules") == "Graph Networks for Molecules"
    assert clean_text("Keywords: graph networks, molecules, QM9") == "graph networks, molecules, QM9"
    assert clean_text("Title - **Message Passing over Bonds**") == "Message Passing over Bonds"
    assert clean_text("Titles of graph papers") == "Titles of graph papers"  # a word, not a label


def test_truncated_output_is_cut_to_last_full_sentence():
    assert clean_text("A GNN predicts properties. It uses attention and", truncated=True) == "A GNN predicts properties."
    assert clean_text("no sentence end at all", truncated=True) == ""


def test_filter_reasons():
    f = TextFilter(min_words=5)
    instr = "Summarize this paper in one sentence. Reply with the sentence only."
    assert f.reason("", ABSTRACT, instr) == "empty"
    assert f.reason("Graph networks.", ABSTRACT, instr) == "too_short"
    assert f.reason("I'm sorry, but I cannot summarize this paper for you.", ABSTRACT, instr) == "refusal"
    assert f.reason("Summarize this paper in one sentence. Reply with the sentence only.", ABSTRACT, instr) == "prompt_echo"
    assert f.reason("It uses message passing over bonds and attention over atoms.", ABSTRACT, instr) == "copy_of_abstract"
    assert f.reason("A message-passing model cuts QM9 prediction error by about an eighth.", ABSTRACT, instr) is None


def test_rejection_counter():
    c = RejectionCounter()
    for r in (None, "empty", None, "empty", "refusal"):
        c.add(r)
    assert c.accepted == 2 and dict(c.rejected) == {"empty": 2, "refusal": 1}
