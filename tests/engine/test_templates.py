"""Prompt building with the real DeepSeek-R1 tokenizer and template (vocab only, no weights)."""

from __future__ import annotations

import subprocess
import time

import pytest

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.template import ChatTemplate, prepare_messages, strip_reasoning
from r1chat.errors import ContextOverflowError, TemplateError
from r1chat.models.family import is_r1_model
from tests.conftest import _r1_flavoured

THINK, END_THINK = 151648, 151649

# The newer vintage of the R1 template ends the generation prompt with "<think>\n".
# Written here in the same shape (user/assistant markers, reasoning cut from history).
NEWER_R1_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<｜Assistant｜>"
    "{{ m['content'].split('</think>')[-1] }}<｜end▁of▁sentence｜>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)

HISTORY = (
    ChatMessage("user", "What is 17 * 3?"),
    ChatMessage("assistant", "51", reasoning="17 * 3 = 51, checking: 50 + 1."),
    ChatMessage("user", "And doubled?"),
)


def test_real_r1_header_is_detected_as_r1(r1_engine):
    info = r1_engine.info
    assert info.reasoning
    assert (info.default_temperature, info.default_top_p) == (0.6, 0.95)
    assert info.model_name == r1_engine.path.stem  # the name `models` lists a file under
    assert info.n_ctx == 8192  # trained context is 131072: the default caps it at 8192


def test_older_template_gets_think_prefill_and_clean_history(r1_engine):
    prompt = r1_engine.render(HISTORY, system_prompt="Answer in one word.")
    assert prompt.prefilled and prompt.starts_in_reasoning
    assert prompt.text.endswith("<｜Assistant｜><think>\n")
    # Earlier reasoning is never sent back, and the system prompt joins the first user turn.
    assert "checking" not in prompt.text
    assert prompt.text.startswith("<｜begin▁of▁sentence｜><｜User｜>Answer in one word.\n\nWhat is")
    assert "<｜Assistant｜>51<｜end▁of▁sentence｜><｜User｜>And doubled?" in prompt.text


def test_reasoning_left_inside_an_answer_is_cut_too(r1_engine):
    history = (
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "<think>\nsecret plan\n</think>\n\nHello!"),
        ChatMessage("user", "again"),
    )
    text = r1_engine.render(history).text
    assert "secret plan" not in text
    assert "<｜Assistant｜>Hello!<｜end▁of▁sentence｜>" in text


def test_newer_template_is_not_prefilled_twice(r1_engine):
    template = ChatTemplate(
        NEWER_R1_TEMPLATE,
        bos_token="<｜begin▁of▁sentence｜>",
        r1=is_r1_model(NEWER_R1_TEMPLATE),
    )
    prompt = template.prompt(HISTORY)
    assert template.r1
    assert prompt.starts_in_reasoning and not prompt.prefilled
    assert prompt.text.endswith("<｜Assistant｜><think>\n")
    assert prompt.text.count("<think>") == 1
    assert "checking" not in prompt.text
    tokens = r1_engine.tokenize(prompt.text)
    assert tokens[-2:] == [THINK, 198]  # "<think>" then "\n", as the real tokenizer splits it


def test_token_counts_come_from_the_real_tokenizer(r1_engine):
    tokens = r1_engine.tokenize("<think>\nhello world\n</think>")
    assert tokens[0] == THINK and tokens[-1] == END_THINK
    request = ChatRequest(HISTORY)
    prepared = r1_engine.prepare(request)
    assert prepared.tokens == r1_engine.tokenize(prepared.prompt.text)
    assert r1_engine.plan(request).tokens == len(prepared.tokens)
    assert prepared.tokens[0] == 151646  # <｜begin▁of▁sentence｜>, written by the template
    assert prepared.tokens[-1] == 198 and prepared.tokens[-2] == THINK


def test_context_fitting_drops_oldest_turns_with_the_real_tokenizer(r1_engine):
    long_turns: list[ChatMessage] = []
    for index in range(60):
        long_turns.append(ChatMessage("user", f"Question {index}: " + "tell me more " * 40))
        long_turns.append(ChatMessage("assistant", f"Answer {index}: " + "here is more " * 40))
    long_turns.append(ChatMessage("user", "Final question?"))
    request = ChatRequest(tuple(long_turns), GenerationParams(max_tokens=512))
    prepared = r1_engine.prepare(request)
    assert prepared.dropped_messages > 0
    assert prepared.dropped_messages % 2 == 0  # whole user/assistant pairs
    assert len(prepared.tokens) <= r1_engine.n_ctx - 512
    assert prepared.prompt.text.rstrip().endswith("<｜User｜>Final question?<｜Assistant｜><think>")
    assert "Question 59:" in prepared.prompt.text  # the newest turns stay
    assert "Question 0:" not in prepared.prompt.text


def test_a_message_too_long_for_the_context_names_both_numbers(r1_engine):
    request = ChatRequest((ChatMessage("user", "word " * 9000),))
    with pytest.raises(ContextOverflowError) as raised:
        r1_engine.prepare(request)
    message = str(raised.value)
    assert "9,0" in message and "8,192" in message  # the prompt's size and the window's


def test_system_prompt_is_a_system_message_for_other_models():
    turns = prepare_messages([ChatMessage("user", "hi")], "Be brief.", r1=False)
    assert turns == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    r1_turns = prepare_messages([ChatMessage("user", "hi")], "Be brief.", r1=True)
    assert r1_turns == [{"role": "user", "content": "Be brief.\n\nhi"}]


def test_strip_reasoning():
    assert strip_reasoning("<think>a</think>\n\nb") == "b"
    assert strip_reasoning("<think>never closed") == ""
    assert strip_reasoning("plain") == "plain"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ messages.__class__.__base__ }}",
        "{% set x = namespace() %}{{ x.__init__.__globals__['__builtins__']['__import__']('os') }}",
    ],
)
def test_hostile_templates_are_refused(source):
    with pytest.raises(TemplateError, match="Python internals"):
        ChatTemplate(source).prompt([ChatMessage("user", "hi")])


def test_a_broken_template_is_a_clear_error():
    with pytest.raises(TemplateError, match="broken"):
        ChatTemplate("{% for m in messages %}{{ m['content'] }")


def test_the_sandbox_refuses_what_the_scan_does_not_see():
    # getattr through a filter hides the dunder from the text scan; the sandbox still refuses.
    source = "{{ (cycler|attr('_' ~ '_init_' ~ '_')).globals }}"
    template = ChatTemplate(source)
    with pytest.raises(TemplateError, match="Python internals"):
        template.prompt([ChatMessage("user", "hi")])


LOOPING = {
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "did not finish rendering within 2 s",
    ),
    "a huge string": ("{{ 'a' * 1000000000 }}", "too large to be a prompt"),
    "a huge list": ("{% for x in [1] * 1000000000 %}{% endfor %}", "too large to be a prompt"),
    "a huge power": ("{{ 10 ** 100000000 }}", "huge power"),
    "endless output": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'xxxxxxxxxx' }}"
        "{% endfor %}{% endfor %}",
        "too large to be one",
    ),
    "recursion": (
        "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}",
        "calls itself without end",
    ),
    "division by zero": ("{{ 1 // 0 }}", "ZeroDivisionError"),
    "its own refusal": (
        "{{ raise_exception('Only user and assistant roles are supported!') }}",
        "refused these messages: Only user and assistant roles are supported!",
    ),
}


@pytest.mark.parametrize("case", list(LOOPING))
@pytest.mark.slow
def test_a_looping_or_growing_template_gives_up_with_one_line(case):
    source, expected = LOOPING[case]
    template = ChatTemplate(source)
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        template.render([{"role": "user", "content": "Hi"}])
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert expected in message and "\n" not in message


@pytest.mark.slow
def test_a_looping_template_in_a_real_model_ends_ask_with_one_line(
    smollm2_path, tmp_path, r1chat_command, cli_env
):
    model = _r1_flavoured(smollm2_path, LOOPING["nested loops"][0], tmp_path / "loop.gguf", "Loop")
    started = time.monotonic()
    done = subprocess.run(
        [*r1chat_command, "ask", "--model", str(model), "Hi"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert time.monotonic() - started < 60
    assert done.returncode == 1
    assert "did not finish rendering within 2 s" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_use_refuses_a_looping_or_hostile_template_before_saving_it(
    smollm2_path, tmp_path, r1chat_command, cli_env, home
):
    looping = _r1_flavoured(smollm2_path, LOOPING["nested loops"][0], tmp_path / "l.gguf", "L")
    done = subprocess.run(
        [*r1chat_command, "use", str(looping)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "did not finish rendering" in done.stderr
    assert not (home / "config" / "config.toml").exists()  # nothing was saved
