from __future__ import annotations

from pathlib import Path

from engine.services.engine import EngineService


async def test_embedded_database_from_empty_then_existing_folder(
    make_settings, open_tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    data_dir = open_tmp_path / "data"
    settings = make_settings(database_url="", data_dir=data_dir)
    engine = await EngineService.start(settings)
    try:
        assert await engine.db.ping()
        assert await engine.storages.users.exists_system_admin()
        first_count = await engine.db.shared().fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await engine.close()
    assert (data_dir / "pg" / "PG_VERSION").exists()

    engine = await EngineService.start(settings)
    try:
        assert (
            await engine.db.shared().fetchval("SELECT count(*) FROM schema_migrations")
            == first_count
        )
        admins = await engine.db.system("bootstrap").fetchval(
            "SELECT count(*) FROM users WHERE role = 'system_admin'"
        )
        assert admins == 1, "the existing data folder keeps its data and is not re-seeded"
    finally:
        await engine.close()


async def test_unreachable_data_dir_as_root_is_a_clear_error(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os

    import pytest

    if os.geteuid() != 0:
        pytest.skip("only root hands the embedded server to another user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    settings = make_settings(database_url="", data_dir=private / "data")
    with pytest.raises(RuntimeError, match="cannot enter"):
        await EngineService.start(settings)
