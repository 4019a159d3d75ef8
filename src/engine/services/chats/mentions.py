"""Parse `@username` (notify a person) and `@@role` (ask an AI role) out of message text.

Not mentions: anything inside code spans or fenced code, e-mail addresses (`a@b.ru`),
`@@@x` runs, and an `@` glued to a preceding letter, digit, dot or `@`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_ROLE = re.compile(r"(?<![\w@.\-])@@([a-z][a-z0-9_]{0,63})(?![\w@])", re.IGNORECASE)
_USER = re.compile(r"(?<![\w@.\-])@(\w[\w.\-]{0,63})", re.UNICODE)
_TRAILING = ".-"


@dataclass(frozen=True, slots=True)
class ParsedMentions:
    usernames: tuple[str, ...]
    role_codes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.usernames and not self.role_codes


def _strip_code(text: str) -> str:
    text = _FENCED.sub(lambda m: " " * len(m.group(0)), text)
    return _INLINE.sub(lambda m: " " * len(m.group(0)), text)


def _unique(items: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return tuple(seen)


def parse_mentions(text: str) -> ParsedMentions:
    if "@" not in text:
        return ParsedMentions((), ())
    plain = _strip_code(text)
    roles = [m.group(1).lower() for m in _ROLE.finditer(plain)]
    users = []
    for match in _USER.finditer(plain):
        end = match.end()
        if end < len(plain) and plain[end] == "@":
            continue  # part of an e-mail-like or malformed token
        name = match.group(1).rstrip(_TRAILING)
        if name:
            users.append(name.lower())
    return ParsedMentions(_unique(users), _unique(roles))
