"""Field types reused by several request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from engine.services.identity.passwords import password_problem


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _valid_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Username = Annotated[
    str,
    StringConstraints(min_length=2, max_length=64, pattern=r"^[\w.\-]+$"),
]
Slug = Annotated[
    str, StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9\-]*$")
]
NoNul = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(max_length=200), AfterValidator(_no_nul)]
LongText = Annotated[str, Field(max_length=20000), AfterValidator(_no_nul)]
NewPassword = Annotated[str, AfterValidator(_valid_password)]
LoginPassword = Annotated[str, Field(max_length=1024)]
