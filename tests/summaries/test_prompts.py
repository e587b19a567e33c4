"""Prompt sets as data files."""

import pytest

from semcse.summaries.prompts import PromptError, load_prompt_set


def test_default_sets():
    s = load_prompt_set()
    assert len(s.prompts) == 5 and s.samples == 3 and len({p.instruction for p in s.prompts}) == 5
    msgs = s.messages(s.prompts[0], "A Title", "An abstract.")
    assert msgs[0]["role"] == "system" and msgs[-1]["content"].startswith("Title: A Title")
    assert msgs[-1]["content"].endswith(s.prompts[0].instruction)  # paper first, instruction last
    q = load_prompt_set(task="queries")
    assert [p.id for p in q.prompts] == ["search_query"]
    t = load_prompt_set(task="titles")  # title-like training anchors: one short line each
    assert [p.id for p in t.prompts] == ["new_title", "keywords", "search_query"]
    assert t.samples == 1 and t.stop == ("\n",) and t.min_words == 2


def test_user_file_and_errors(tmp_path):
    good = tmp_path / "p.toml"
    good.write_text('samples = 2\nsystem = "S"\n[[prompts]]\nid = "a"\ninstruction = "Do A."\n[[prompts]]\nid = "b"\ninstruction = "Do B."\n')
    s = load_prompt_set(good)
    assert s.samples == 2 and [p.id for p in s.head(1).prompts] == ["a"]
    bad = tmp_path / "bad.toml"
    bad.write_text('template = "{instruction} {abstract}"\n[[prompts]]\nid = "a"\ninstruction = "x"\n')
    with pytest.raises(PromptError, match="after"):
        load_prompt_set(bad)
    bad.write_text('[[prompts]]\nid = "a"\n')
    with pytest.raises(PromptError, match="needs 'id' and 'instruction'"):
        load_prompt_set(bad)
    bad.write_text("not = [toml")
    with pytest.raises(PromptError, match="invalid TOML"):
        load_prompt_set(bad)
