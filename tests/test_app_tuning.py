"""The app tunes the garbage collector once it has started (start-up objects frozen, young
collections less often) and leaves FastAPI's telemetry off (bench/README.md, "Engine towards
its floor")."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.app import tune_garbage_collection
from engine.config import Settings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_production_freezes_start_up_objects_and_raises_the_young_threshold(
    make_settings: Callable[..., Settings], restore_gc: None
) -> None:
    settings = make_settings(environment="production")
    assert settings.gc_freeze_after_start and settings.gc_gen0_threshold == 5_000
    gc.set_threshold(700, 10, 10)
    survivor: list[Any] = [object()]
    tune_garbage_collection(settings)
    assert gc.get_threshold() == (5_000, 10, 10)
    assert gc.get_freeze_count() > 0
    assert not gc.is_finalized(survivor)  # frozen objects live on as before
    assert not any(survivor is obj for obj in gc.get_objects())  # but are not tracked


def test_settings_turn_it_off(make_settings: Callable[..., Settings], restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collection(
        make_settings(environment="production", gc_freeze_after_start=False, gc_gen0_threshold=0)
    )
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_not_under_tests(make_settings: Callable[..., Settings], restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collection(make_settings())
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_fastapi_telemetry_is_off_unless_asked_for(make_settings: Callable[..., Settings]) -> None:
    """The engine configures no OpenTelemetry provider; FastAPI would look all three up on
    every request to find that out."""
    from engine.app import create_app

    assert create_app(make_settings())._native_telemetry.enabled() is False
    on = create_app(make_settings(opentelemetry_enabled=True))
    assert on._telemetry["tracing"] and on._telemetry["metrics"]
