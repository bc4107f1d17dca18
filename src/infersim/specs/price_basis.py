"""Price bases: who pays for a chip-hour, and how (the text of `--price-basis` and of scenario files).

- `owner` (also `auto`): the chip at its bill of materials + the seller's margin where its spec has
  one, else at its market price; plus its platform, the scale-out network, facility, power, upkeep.
- `owner:bom`, `owner:market` (also `bom`, `market`): the owner, with the chip priced that way.
- `rental:PROVIDER:TERM[@YYYY-MM]`: a renter paying a cloud's price per chip-hour, TERM one of
  on_demand, 1yr, 3yr, capacity_block, spot; the newest price on or before the date (the newest
  listed without one). PROVIDER `market` takes every provider's newest price for that term: the
  median as central, the cheapest and dearest as the range.
"""

from __future__ import annotations

import re
from datetime import date
from dataclasses import dataclass
from typing import Literal

from ..errors import InfersimError

PriceBasis = str   # the text as a user gives it; parse_price_basis reads it
RENTAL_TERMS = ("on_demand", "1yr", "3yr", "capacity_block", "spot")
MARKET_PROVIDER = "market"


@dataclass(frozen=True)
class Basis:
    """A parsed price basis."""

    view: Literal["owner", "rental"]
    chip_price: Literal["auto", "bom", "market"] = "auto"   # owner
    provider: str | None = None                              # rental
    term: str | None = None
    as_of: str | None = None

    @property
    def text(self) -> str:
        if self.view == "owner":
            return "owner" if self.chip_price == "auto" else f"owner:{self.chip_price}"
        return f"rental:{self.provider}:{self.term}" + (f"@{self.as_of}" if self.as_of else "")

    def describe(self) -> str:
        """One phrase for the header of a cost table."""
        if self.view == "owner":
            how = {"auto": "bill of materials + margin where the chip has one, else market price",
                   "bom": "bill of materials + margin", "market": "market price"}[self.chip_price]
            return f"price basis {self.text} (chip at {how}; platform, network, facility, power and upkeep added)"
        who = "the median of every provider's" if self.provider == MARKET_PROVIDER else f"{self.provider}'s"
        when = f"on or before {self.as_of}" if self.as_of else "newest"
        return f"price basis {self.text} (a renter: {who} {self.term} price per chip-hour, {when}; nothing added)"


def parse_price_basis(text: str | Basis) -> Basis:
    """Read `owner`, `owner:bom`, `owner:market`, `rental:PROVIDER:TERM[@YYYY-MM]` (and the older
    `auto`, `bom`, `market`); one-line error naming the value and the forms otherwise."""
    if isinstance(text, Basis):
        return text
    t = str(text).strip().lower()
    legacy = {"auto": "auto", "owner": "auto", "bom": "bom", "market": "market", "owner:auto": "auto",
              "owner:bom": "bom", "owner:market": "market"}
    if t in legacy:
        return Basis("owner", legacy[t])
    parts = t.split(":")
    if len(parts) == 3 and parts[0] == "rental" and parts[1]:
        term, _, as_of = parts[2].partition("@")
        if term in RENTAL_TERMS and (not as_of or _is_date(as_of)):
            return Basis("rental", provider=parts[1], term=term, as_of=as_of or None)
    raise InfersimError(f"price basis '{text}' is not understood: use owner, owner:bom, owner:market or "
                        f"rental:PROVIDER:TERM[@YYYY-MM] with TERM one of {', '.join(RENTAL_TERMS)} "
                        f"(e.g. rental:aws:capacity_block, rental:gcp:3yr@2025-03, rental:market:on_demand)")


def _is_date(s: str) -> bool:
    """A real calendar month YYYY-MM or day YYYY-MM-DD (2025-13 and 2025-02-30 are not)."""
    if re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", s) is None:
        return False
    try:
        date.fromisoformat(s if len(s) == 10 else s + "-01")
    except ValueError:
        return False
    return True


def check_price_basis(text: str) -> str:
    """For spec validators: the text unchanged when it parses, else a ValueError with the reason."""
    try:
        parse_price_basis(text)
    except InfersimError as exc:
        raise ValueError(str(exc)) from None
    return text
