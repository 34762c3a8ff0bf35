"""Answers are cut into Markdown blocks; streaming them piece by piece ends as one pass does."""

from __future__ import annotations

import pytest
from textual.app import App

from r1chat.ui.widgets.answer import AnswerView, CodeBlock, ProseBlock, links, split_blocks

ANSWER = (
    "Intro paragraph that explains the idea in a few words.\n\n"
    "```python\ndef f(x):\n    return x * 2  # a long line " + "x" * 150 + "\n```\n\n"
    "- first point\n- second point\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "~~~\nplain fence\n~~~\n"
    "Closing words with [a link](https://example.org)."
)


def test_blocks_add_up_to_the_text_and_only_the_last_is_open():
    for end in range(len(ANSWER) + 1):
        text = ANSWER[:end]
        blocks = split_blocks(text)
        assert "".join(b.text for b in blocks).strip() == text.strip()
        assert all(b.closed for b in blocks[:-1])


def test_a_fence_closed_at_the_very_end_is_not_part_of_the_code():
    (block,) = split_blocks("```sh\nls -l\n```")
    assert block.code == "ls -l"
    (block,) = split_blocks("```sh\nls -l\n``")  # still streaming: the fence may grow
    assert block.code == "ls -l\n``" and not block.closed


def test_code_fences_become_code_blocks():
    kinds = [(b.kind, b.language) for b in split_blocks(ANSWER)]
    assert ("code", "python") in kinds and ("code", "") in kinds
    python = next(b for b in split_blocks(ANSWER) if b.language == "python")
    assert python.code.startswith("def f(x):") and python.code.endswith("x" * 150)


def test_links_are_http_only():
    text = (
        "[a](https://a.example) [b](file:///etc/passwd) see http://b.example/x. "
        "[c](javascript:alert(1))"
    )
    assert links(text) == ["https://a.example", "http://b.example/x"]


class Host(App[None]):
    def __init__(self, view: AnswerView) -> None:
        super().__init__()
        self.view = view

    def compose(self):
        yield self.view


def rendered(view: AnswerView) -> list[tuple[str, str]]:
    out = []
    for child in view.children:
        if isinstance(child, CodeBlock):
            out.append(("code", child.code))
        elif isinstance(child, ProseBlock):
            out.append(("prose", child.source.strip()))
    return out


@pytest.mark.parametrize("piece", [1, 3, 7, 40])
@pytest.mark.slow
async def test_streaming_in_pieces_renders_what_one_pass_renders(piece):
    whole = AnswerView(ANSWER)
    async with Host(whole).run_test(size=(100, 60)) as pilot:
        await pilot.pause()
        expected = rendered(whole)
    streamed = AnswerView()
    async with Host(streamed).run_test(size=(100, 60)) as pilot:
        for start in range(0, len(ANSWER), piece):
            await streamed.append(ANSWER[start : start + piece])
        await streamed.finish()
        await pilot.pause()
        assert rendered(streamed) == expected
        assert streamed.source == ANSWER
    assert [kind for kind, _ in expected].count("code") == 2
