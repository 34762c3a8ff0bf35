"""Provides what hosted APIs charge for tokens: the table shipped with r1chat
(`prices.toml`), changed or extended by `[prices.KEY]` in config.toml, and the hosted models
`stats` compares with (`[stats] compare`)."""

from __future__ import annotations

import datetime
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1chat.config import Settings
from r1chat.errors import ConfigError
from r1chat.text import one_line

SHIPPED = Path(__file__).with_name("prices.toml")
DEFAULT_COMPARE = ("deepseek-r1", "openai-o1")
"""DeepSeek's own API for R1, and one well-known hosted reasoning model."""


@dataclass(frozen=True, slots=True)
class Price:
    """One hosted model's list price, in US dollars per million tokens."""

    key: str
    name: str
    input: float
    output: float
    date: str
    """When the price was published (YYYY-MM-DD)."""
    source: str = ""

    def cost(self, read: int, written: int) -> float:
        """What `read` prompt tokens and `written` generated ones (reasoning counts as
        output, as the APIs bill it) would cost at this price."""
        return (read * self.input + written * self.output) / 1_000_000

    @property
    def label(self) -> str:
        """`DeepSeek-R1 on DeepSeek's API ($0.55 in / $2.19 out per million, 2025-01-20)`."""
        return (
            f"{self.name} (${self.input:g} in / ${self.output:g} out per million tokens, "
            f"prices of {self.date})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "key": self.key,
            "name": self.name,
            "input_per_million": self.input,
            "output_per_million": self.output,
            "date": self.date,
            "source": self.source,
        }


def money(value: float) -> str:
    """Dollars as people read them: `$0.0042`, `$1.23`, `$1,234`."""
    if value >= 1000:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if value else "$0"


def _price(key: str, table: Any, base: Price | None, where: str) -> Price:
    if not isinstance(table, dict):
        raise ConfigError(
            f"Invalid [prices.{key}] in {where}: a table with input = … and output = …."
        )
    values: dict[str, Any] = (
        {}
        if base is None
        else {
            "name": base.name,
            "input": base.input,
            "output": base.output,
            "date": base.date,
            "source": base.source,
        }
    )
    values.update(table)
    for field in ("input", "output"):
        number = values.get(field)
        if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
            raise ConfigError(
                f"Invalid {field} in [prices.{key}] of {where}: dollars per million tokens, "
                "for example 2.19."
            )
    date = values.get("date")
    if isinstance(date, datetime.date):
        date = date.isoformat()
    if not isinstance(date, str) or not date:
        raise ConfigError(
            f"[prices.{key}] in {where} needs the date the price was published "
            '(date = "2025-01-20").'
        )
    name = one_line(str(values.get("name") or key), key)  # shown on terminals: plain, one line
    return Price(
        key,
        name,
        float(values["input"]),
        float(values["output"]),
        date,
        str(values.get("source", "")),
    )


def load_prices(settings: Settings) -> dict[str, Price]:
    """The shipped price table with config.toml's `[prices.KEY]` changes and additions."""
    shipped = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    prices = {key: _price(key, table, None, "prices.toml") for key, table in shipped.items()}
    for key, table in settings.sections.prices.items():
        prices[key] = _price(key, table, prices.get(key), "config.toml")
    return prices


def compared_prices(settings: Settings, chosen: list[str] | None = None) -> list[Price]:
    """The hosted models to compare with: `chosen` (`--price`), else `[stats] compare`,
    else DeepSeek's API and OpenAI o1."""
    prices = load_prices(settings)
    wanted = list(chosen or settings.sections.stats.compare or DEFAULT_COMPARE)
    unknown = [key for key in wanted if key not in prices]
    if unknown:
        known = ", ".join(sorted(prices))
        raise ConfigError(
            f"No price for {', '.join(unknown)}; known: {known} (add one under [prices.KEY] "
            "in config.toml)."
        )
    return [prices[key] for key in wanted]
