"""Every route dependency is a coroutine: FastAPI runs plain `def` ones in a thread pool."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from engine.app import create_app
from engine.config import Settings


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _is_coroutine(call: Any) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    method = getattr(call, "__call__", None)  # noqa: B004 - security scheme instances
    return not inspect.isclass(call) and inspect.iscoroutinefunction(method)


def test_no_dependency_runs_in_the_thread_pool(make_settings: Any) -> None:
    settings: Settings = make_settings()
    app = create_app(settings)
    offenders = {
        f"{route.path}: {getattr(call, '__name__', type(call).__name__)}"
        for route in app.routes
        if isinstance(route, APIRoute)
        for call in _calls(route.dependant)
        if call is not None and not _is_coroutine(call)
    }
    assert not offenders, sorted(offenders)
    assert all(
        inspect.iscoroutinefunction(r.endpoint) for r in app.routes if isinstance(r, APIRoute)
    )
