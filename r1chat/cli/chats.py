"""Provides the saved-chat commands: list, show, export, import, rm, rename and search."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from r1chat.cli.console import cell, cell_len, console
from r1chat.core.chats import (
    HIT_END,
    HIT_START,
    IMPORT_BATCH,
    SearchHit,
    export_json,
    export_markdown,
    import_json,
    message_data,
    open_store,
    readable_json,
    search,
)
from r1chat.domain import NO_ANSWER_NOTE, Conversation, Message
from r1chat.errors import R1ChatError
from r1chat.files import write_private
from r1chat.text import terminal_safe

SHORT_ID = 12


def ago(timestamp: float, now: float | None = None) -> str:
    """A short human time: `just now`, `5 min ago`, `3 h ago`, `yesterday`, or a date."""
    seconds = (time.time() if now is None else now) - timestamp
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d")


def _summary(conversation: Conversation) -> dict[str, Any]:
    """A conversation for `list --json`, under the names an export uses."""
    return {
        "id": conversation.id,
        "title": conversation.title,
        "model": conversation.model,
        "message_count": conversation.message_count,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }


def list_command(limit: int, as_json: bool) -> None:
    """`r1chat list`."""
    if limit < 1:
        raise R1ChatError("--limit must be 1 or more.")
    store = open_store()
    conversations = store.list_conversations(limit=limit)
    if as_json:
        print(json.dumps([_summary(c) for c in conversations], ensure_ascii=True, indent=2))
        return
    if not conversations:
        print('No saved conversations yet; start one with `r1chat ask "…"`.')
        return
    from rich.text import Text

    out = console()
    model_width = max(len("model"), *(cell_len(c.model_shown or "") for c in conversations))
    fixed = SHORT_ID + model_width + 8 + 10 + 8  # id, model, messages, updated, gaps
    title_width = max(len("title"), *(cell_len(c.title or "New chat") for c in conversations))
    title_width = min(title_width, out.width - fixed)
    if title_width < 30:  # too narrow for one line each: two lines, nothing cut short
        for conversation in conversations:
            line = Text(no_wrap=True)
            line.append(conversation.id[:SHORT_ID], style="cyan")
            line.append("  " + terminal_safe(conversation.title or "New chat"))
            out.print(line)
            details = f"{conversation.model_shown or 'unknown model'} · "
            details += f"{conversation.message_count} messages · {ago(conversation.updated_at)}"
            out.print(Text(" " * (SHORT_ID + 2) + terminal_safe(details), style="dim"))
        return
    header = f"{'id':<{SHORT_ID}}  {'title':<{title_width}}  {'model':<{model_width}}  "
    out.print(Text(header + "messages  updated", style="bold"), no_wrap=True, crop=True)
    for conversation in conversations:
        line = Text(no_wrap=True)
        line.append(conversation.id[:SHORT_ID], style="cyan")
        line.append(f"  {cell(conversation.title or 'New chat', title_width)}  ")
        line.append(cell(conversation.model_shown or "", model_width), style="dim")
        line.append(f"  {conversation.message_count:>8}  {ago(conversation.updated_at)}")
        out.print(line, no_wrap=True, crop=True)


def _message_dict(message: Message) -> dict[str, Any]:
    """A message for `show --json`: the fields of an export's message, and `no_answer`."""
    return {**message_data(message), "no_answer": message.no_answer}


def show_command(prefix: str, thinking: bool, as_json: bool) -> None:
    """`r1chat show ID`."""
    store = open_store()
    conversation = store.conversation(store.resolve(prefix))
    if as_json:
        # The fields of an export's conversation; `messages` is the current branch.
        document = asdict(replace(conversation, messages=()))  # no deep copy of 200,000
        document["messages"] = [_message_dict(m) for m in conversation.messages]
        sys.stdout.write(readable_json(document, [document], ascii_only=True) + "\n")
        return
    render_conversation(conversation, thinking=thinking)


def render_conversation(
    conversation: Conversation, *, thinking: bool, stream: TextIO | None = None
) -> None:
    """Print a conversation for a terminal: answers as Markdown, reasoning dimmed."""
    from rich.markdown import Markdown
    from rich.padding import Padding
    from rich.rule import Rule
    from rich.text import Text

    out = console(stream)
    header = Text(terminal_safe(conversation.title or "New chat"), style="bold")
    details = f"{conversation.id} · {terminal_safe(conversation.model_shown or 'unknown model')}"
    details += f" · {ago(conversation.updated_at)}"
    out.print(header)
    out.print(Text(details, style="dim"))
    if len(conversation.messages) > LAID_OUT:
        _print_plain(out.file, conversation, thinking=thinking)
        return
    for message in conversation.messages:
        if message.role == "user":
            out.print(Rule(Text("You", style="bold cyan"), align="left", style="cyan"))
            if not _print_long(out, message.content):
                out.print(Padding(Text(terminal_safe(message.content)), (0, 0, 1, 0)))
            continue
        label = "Assistant" if message.role == "assistant" else message.role.title()
        out.print(Rule(Text(label, style="bold magenta"), align="left", style="magenta"))
        labelled = thinking and bool(message.reasoning)
        if labelled:  # labels keep the two apart where styles do not show (a pipe, a file)
            out.print(Text("Thinking:", style="bold dim"))
            if not _print_long(out, message.reasoning):
                out.print(Text(terminal_safe(message.reasoning), style="dim italic"))
            out.print()
            out.print(Text("Answer:", style="bold"))
        if message.content and not _print_long(out, message.content):
            out.print(Markdown(terminal_safe(message.content), hyperlinks=False))
        if message.no_answer:
            out.print(Text(f"({NO_ANSWER_NOTE})", style="yellow"))
        if message.status != "complete":
            out.print(Text(f"({message.status})", style="yellow"))
        out.print()


LAID_OUT = 2_000
"""Messages past which `show` prints the text as it is (Markdown source, no layout): laying
out takes about 2 ms a message, so a 200,000-message chat would take minutes."""


def _print_plain(file: TextIO, conversation: Conversation, *, thinking: bool) -> None:
    """The transcript as text, written in large pieces: linear and fast for any length.
    The same labels as the laid-out form; control bytes stripped."""
    lines: list[str] = []
    for message in conversation.messages:
        label = "You" if message.role == "user" else message.role.title()
        lines.append(f"── {label} ──")
        if thinking and message.reasoning and message.role != "user":
            lines += ["Thinking:", terminal_safe(message.reasoning), "", "Answer:"]
        if message.content:
            lines.append(terminal_safe(message.content))
        if message.no_answer:
            lines.append(f"({NO_ANSWER_NOTE})")
        if message.status != "complete":
            lines.append(f"({message.status})")
        lines.append("")
        if len(lines) > 20_000:
            file.write("\n".join(lines) + "\n")
            lines.clear()
    file.write("\n".join(lines) + "\n")
    file.flush()


LONG_TEXT = 200_000
"""Characters past which a message is printed as it is, without wrapping or Markdown:
laying out megabytes of text takes minutes (the work grows faster than the text)."""


def _print_long(out: Any, text: str) -> bool:
    """Print a very long text straight to the stream (control bytes stripped); `False`
    when it is short enough to be laid out as usual."""
    if len(text) <= LONG_TEXT:
        return False
    out.file.write(terminal_safe(text).rstrip("\n") + "\n\n")
    out.file.flush()
    return True


def confirm(question: str) -> bool:
    import typer

    return bool(typer.confirm(question, default=False, err=True))


def export_command(
    prefix: str | None,
    all_conversations: bool,
    fmt: str,
    output: Path | None,
    thinking: bool,
    force: bool = False,
) -> None:
    """`r1chat export`."""
    if fmt not in ("md", "json"):
        raise R1ChatError(f"Unknown format {fmt!r}; use md or json.")
    if all_conversations == (prefix is not None):
        raise R1ChatError("Give one conversation id, or --all (not both).")
    store = open_store()
    if all_conversations:
        if fmt != "json":
            raise R1ChatError("--all exports JSON only; add --format json.")
        ids = [c.id for c in store.list_conversations(limit=store.count_conversations() or 1)]
        text = export_json(store, ids, many=True)
    else:
        conversation_id = store.resolve(prefix or "")
        if fmt == "json":
            text = export_json(store, [conversation_id], many=False)
        else:
            text = export_markdown(store.conversation(conversation_id), thinking=thinking)
    if output is None:
        sys.stdout.write(text)
        return
    if output.is_symlink():  # a dangling one too: replacing it would write elsewhere
        raise R1ChatError(
            f"{terminal_safe(str(output))} is a symbolic link; give the path of a regular file."
        )
    if output.exists() and not output.is_file():
        raise R1ChatError(
            f"{terminal_safe(str(output))} is not a regular file (a device, a pipe or a "
            "folder); export to a regular file instead."
        )
    replace = force or not output.exists()
    if not replace and not (sys.stdin.isatty() and confirm(f"{output} exists; replace it?")):
        raise R1ChatError(f"{output} already exists; add --force to replace it.")
    try:
        write_private(output, text)
    except OSError as error:
        raise R1ChatError(f"Cannot write {output} ({error.strerror}).") from error
    print(f"Exported to {output}.", file=sys.stderr)


def import_command(path: Path) -> None:
    """`r1chat import FILE`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise R1ChatError(f"No file at {path}.") from None
    except IsADirectoryError:
        raise R1ChatError(f"{path} is a folder; give the exported .json file.") from None
    except UnicodeDecodeError:
        raise R1ChatError(f"{path} is not UTF-8 text; give an r1chat JSON export.") from None
    except OSError as error:
        raise R1ChatError(f"Cannot read {path} ({error.strerror}).") from error
    store = open_store()
    shown = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if shown and total > IMPORT_BATCH:
            sys.stderr.write(f"\rimporting {done:,}/{total:,} messages")
            sys.stderr.flush()

    try:
        imported, skipped, refused = import_json(store, text, str(path), progress)
    finally:
        if shown:
            sys.stderr.write("\r\x1b[K")
    print(f"Imported {len(imported)} conversation(s).", file=sys.stderr)
    facts = json.loads(text).get("memory")  # parsed once already by import_json: it is JSON
    if isinstance(facts, list) and facts:
        from r1chat.core.chats import Memory

        added = Memory(store).import_facts(facts)
        print(
            f"Imported {added} memory fact(s) (ones already remembered skipped).", file=sys.stderr
        )
    if skipped:
        print(
            f"Skipped {len(skipped)} already saved: {', '.join(i[:SHORT_ID] for i in skipped)}.",
            file=sys.stderr,
        )
    for reason in refused:
        print(f"r1chat: {terminal_safe(reason)}", file=sys.stderr)
    if refused:
        raise R1ChatError(
            f"{len(refused)} conversation(s) in {path} were not imported (said above); "
            "the others were."
        )


def rm_command(prefix: str, yes: bool) -> None:
    """`r1chat rm ID`."""
    store = open_store()
    conversation = store.conversation(store.resolve(prefix), messages=False)
    title = terminal_safe(conversation.title or "New chat")
    if not yes:
        if not sys.stdin.isatty():
            raise R1ChatError("Not deleting without a terminal to confirm on; add --yes.")
        answer = input(f"Delete '{title}' ({conversation.message_count} messages)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Kept.", file=sys.stderr)
            return
    store.delete(conversation.id)
    print(f"Deleted '{title}'.", file=sys.stderr)


def rename_command(prefix: str, title: str) -> None:
    """`r1chat rename ID TITLE`."""
    store = open_store()
    conversation_id = store.resolve(prefix)
    store.rename(conversation_id, title)
    print(f"Renamed {conversation_id[:SHORT_ID]}.", file=sys.stderr)


def search_command(query: str, thinking: bool, limit: int, as_json: bool) -> None:
    """`r1chat search QUERY`."""
    store = open_store()
    hits = search(store, query, thinking=thinking, limit=limit)
    if as_json:
        print(json.dumps([_hit_dict(hit) for hit in hits], ensure_ascii=True, indent=2))
        return
    if not hits:
        in_reasoning = [] if thinking else search(store, query, thinking=True, limit=limit)
        if in_reasoning:
            count = len(in_reasoning)
            more = "+" if count >= limit else ""
            print(
                f"No matches in answers, messages or titles; {count}{more} in the thinking "
                "(add --thinking to see them).",
                file=sys.stderr,
            )
        else:
            print("No matches.", file=sys.stderr)
        return
    from rich.text import Text

    out = console()
    for hit in hits:
        line = Text()
        line.append(hit.conversation_id[:SHORT_ID], style="cyan")
        line.append("  ")
        line.append(terminal_safe(hit.conversation_title or "New chat"), style="bold")
        where = "in the thinking" if hit.field == "reasoning" else hit.field
        line.append(f"  ({where}, {ago(hit.updated_at)})", style="dim")
        out.print(line)
        out.print(_highlighted(hit))


def _highlighted(hit: SearchHit) -> Any:
    from rich.text import Text

    text = Text("  ")
    snippet = terminal_safe(" ".join(hit.snippet.split()))
    for index, part in enumerate(snippet.split(HIT_START)):
        matched, _, rest = part.partition(HIT_END) if index else ("", "", part)
        if matched:
            text.append(matched, style="bold reverse")
        text.append(rest)
    return text


def _hit_dict(hit: SearchHit) -> dict[str, Any]:
    return {
        "conversation_id": hit.conversation_id,
        "title": hit.conversation_title,
        "message_id": hit.message_id,
        "role": hit.role,
        "field": hit.field,
        "snippet": hit.plain_snippet,
        "rank": hit.rank,
        "updated": hit.updated_at,
    }
