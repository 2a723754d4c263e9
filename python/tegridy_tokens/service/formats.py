"""Format-preserving tokens: which characters of a value each format encrypts with FF1 and which it
keeps, and the rules a value must meet. Refusals name the format and the rule, never the value.

    ssn          ddd-dd-dddd or 9 digits; separators kept; 10^9 values
    credit_card  13-19 digits with optional spaces or dashes; separators and the last 4 kept; the
                 token fails the Luhn check (cycle-walking), so it can never pass for a card
    phone        digits, with a leading '+' and country code group kept; separators kept
    email        the local part's letters and digits encrypted, its punctuation and @domain kept

A value whose encrypted part has fewer than 1,000,000 possible values (the minimum domain of the
2025 draft of SP 800-38G Rev. 1) is refused.
"""

from __future__ import annotations

import re
import string
from typing import Callable

from .ff1 import FF1

MIN_DOMAIN = 1_000_000
DIGITS = string.digits
ALNUM = string.digits + string.ascii_lowercase + string.ascii_uppercase
FORMATS = ("ssn", "credit_card", "phone", "email")


class FormatError(ValueError):
    """The value does not meet its format's rules; the message names the format and the rule only."""


class FormatCipher:
    """Tokenizes and detokenizes values of one format with its own FF1 key."""

    def __init__(self, name: str, key: bytes) -> None:
        if name not in FORMATS:
            raise FormatError(f"unknown format {name!r}; known formats: default, {', '.join(FORMATS)}")
        self.name = name
        self._digits = FF1(key, 10, DIGITS)
        self._alnum = FF1(key, 62, ALNUM)

    def tokenize(self, value: str) -> str:
        return getattr(self, f"_{self.name}")(value, encrypt=True)

    def detokenize(self, token: str) -> str:
        return getattr(self, f"_{self.name}")(token, encrypt=False)

    # ---- the formats ----

    def _ssn(self, value: str, encrypt: bool) -> str:
        if not re.fullmatch(r"\d{3}-\d{2}-\d{4}|\d{9}", value):
            raise FormatError("ssn: the value must be ddd-dd-dddd or 9 digits")
        return _replace(value, str.isdigit, self._cipher(self._digits, encrypt))

    def _credit_card(self, value: str, encrypt: bool) -> str:
        digits = [c for c in value if c.isdigit()]
        if not re.fullmatch(r"\d[\d -]*\d", value) or not 13 <= len(digits) <= 19:
            raise FormatError("credit_card: the value must be 13 to 19 digits, with optional spaces or dashes")
        middle, last4 = "".join(digits[:-4]), "".join(digits[-4:])
        self._check_domain(10 ** len(middle))
        if encrypt:
            if not _luhn_valid(middle + last4):
                raise FormatError("credit_card: the value does not pass the Luhn check")
            # Shift a digit that Luhn does not double by 5: a valid number becomes an invalid one,
            # and the walk below then moves only among invalid numbers, so it can be walked back.
            walked = self._digits.encrypt(_shift(middle, 5))
            while _luhn_valid(walked + last4):
                walked = self._digits.encrypt(walked)
        else:
            if _luhn_valid(middle + last4):
                raise FormatError("credit_card: a credit_card token never passes the Luhn check")
            walked = self._digits.decrypt(middle)
            while _luhn_valid(walked + last4):
                walked = self._digits.decrypt(walked)
            walked = _shift(walked, -5)
        return _replace(value, str.isdigit, iter(walked + last4).__next__, whole=True)

    def _phone(self, value: str, encrypt: bool) -> str:
        if not re.fullmatch(r"\+?[\d(][\d .()-]*\d", value):
            raise FormatError("phone: the value must be digits with optional '+', spaces, dots, dashes or parentheses")
        kept = ""
        rest = value
        if value.startswith("+"):
            group = re.match(r"\+(\d{1,3})(?=[ .()-])", value)
            if not group:
                raise FormatError("phone: write the country code as its own group, e.g. +44 20 7946 0958")
            kept, rest = value[:group.end()], value[group.end():]
        return kept + _replace(rest, str.isdigit, self._cipher(self._digits, encrypt))

    def _email(self, value: str, encrypt: bool) -> str:
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain or not re.fullmatch(r"[A-Za-z0-9._%+-]+", local):
            raise FormatError("email: the value must be local-part@domain, the local part of letters, digits and ._%+-")
        return _replace(local, lambda c: c in ALNUM, self._cipher(self._alnum, encrypt)) + at + domain

    # ---- helpers ----

    def _cipher(self, ff1: FF1, encrypt: bool) -> Callable[[str], str]:
        def run(text: str) -> str:
            self._check_domain(ff1.radix ** len(text))
            return ff1.encrypt(text) if encrypt else ff1.decrypt(text)
        return run

    def _check_domain(self, size: int) -> None:
        if size < MIN_DOMAIN:
            raise FormatError(f"{self.name}: the part to encrypt has fewer than {MIN_DOMAIN:,} possible values; "
                              "a format-preserving token of it would be guessable, so it is refused")


def _replace(value: str, selected: Callable[[str], bool], transform, whole: bool = False) -> str:
    """`value` with its selected characters replaced, in place: by `transform` of all of them at once,
    or (whole=True) by successive characters from `transform`."""
    if whole:
        return "".join(transform() if selected(c) else c for c in value)
    chosen = "".join(c for c in value if selected(c))
    replaced = iter(transform(chosen))
    return "".join(next(replaced) if selected(c) else c for c in value)


def _shift(middle: str, by: int) -> str:
    """Adds `by` to the middle's last digit: the 5th digit from the right of the whole number, which
    Luhn does not double, so the check sum moves by `by`."""
    return middle[:-1] + str((int(middle[-1]) + by) % 10)


def _luhn_valid(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
