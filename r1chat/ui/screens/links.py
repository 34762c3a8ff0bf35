"""Provides opening a link from an answer: only http(s), and only after the user says yes."""

from __future__ import annotations

from typing import Any

from r1chat.ui.screens.dialogs import ConfirmScreen, LinkChooserScreen


def offer_links(app: Any, urls: list[str]) -> None:
    """Let the user pick one of `urls` (if several), confirm it, then open it."""

    def confirm(url: str | None) -> None:
        if url is None:
            return
        if not url.lower().startswith(("http://", "https://")):
            app.notify("r1chat only opens http(s) links.", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:
                app.open_url(url)

        app.push_screen(
            ConfirmScreen(f"Open this link in your browser?\n\n{url}", confirm="Open"), done
        )

    if len(urls) == 1:
        confirm(urls[0])
    else:
        app.push_screen(LinkChooserScreen(urls), confirm)
