"""The pool sends no reset query on release, yet never hands out a connection in a
transaction: asyncpg still rolls an unfinished one back itself."""

from __future__ import annotations

from engine.storage.postgres.database import create_pool


async def test_release_sends_nothing_but_a_needed_rollback(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1, command_timeout=5)
    try:
        conn = await pool.acquire()
        sent: list[str] = []
        conn.add_query_logger(lambda record: sent.append(record.query))
        await conn.fetchval("SELECT 1")
        await pool.release(conn)
        assert sent == ["SELECT 1"], "a plain release sends no reset query"

        conn = await pool.acquire()
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("CREATE TEMP TABLE pool_probe (x int)")
        await pool.release(conn)  # abandoned mid-transaction
        assert sent[-1] == "ROLLBACK"
        async with pool.acquire() as again:
            assert again.is_in_transaction() is False
            assert await again.fetchval("SELECT to_regclass('pg_temp.pool_probe')") is None
    finally:
        await pool.close()
