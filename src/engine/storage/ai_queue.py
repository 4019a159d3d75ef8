"""The AI work queue and the fleet's slots: claims, tickets, leases, backend health.

Every claim runs under one transaction-scoped advisory lock, so the count of a backend's
slots in use (its running jobs with an unexpired lease) cannot change between reading it
and taking a slot: however many processes claim at once, a backend never gets more jobs
than its capacity. A claim is a few small statements; the lock is held for milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from engine.models.ai_queue import BackendState, Claim, ClaimedJob, JobKind, Priority
from engine.storage.postgres.database import Database

_CLAIM_LOCK_KEY = 0x52754752  # advisory lock of slot claims (bootstrap uses ...51)

# Running jobs that hold a slot: a lease that ran out frees the slot (its process died).
_LIVE = (
    "SELECT org_id, user_id, backend FROM ai_jobs WHERE status = 'running' AND lease_until > now()"
)

# The backend to give the next slot of: known to the claiming process, not excluded, with
# a free slot, healthy (or, when all of them are ejected, any: the person then reads the
# failure instead of waiting for a server nobody knows will return); the most free
# capacity (scaled by weight) first. A new claim or ticket also leaves alone every server
# that a job moving off a failed one may take (that job goes first).
_FREE_BACKEND = """
    free AS (
        SELECT b.name FROM llm_backends b
        LEFT JOIN (SELECT backend, count(*) AS n FROM live GROUP BY backend) used
               ON used.backend = b.name
        WHERE b.name = ANY($1::text[]) AND NOT (b.name = ANY($2::text[]))
          AND (b.ejected_until IS NULL OR b.ejected_until <= now()
               OR NOT EXISTS (SELECT 1 FROM llm_backends h
                              WHERE h.name = ANY($1::text[]) AND NOT (h.name = ANY($2::text[]))
                                AND (h.ejected_until IS NULL OR h.ejected_until <= now())))
          AND b.capacity > coalesce(used.n, 0)
          {after_movers}
        ORDER BY b.weight * (b.capacity - coalesce(used.n, 0)) / b.capacity DESC, b.name
        LIMIT 1)"""
_AFTER_MOVERS = """AND NOT EXISTS (SELECT 1 FROM ai_jobs m
                          WHERE m.moving_from IS NOT NULL AND m.status = 'running'
                            AND m.lease_until > now() AND NOT (b.name = ANY(m.moving_from)))"""
_FREE_FOR_NEW = _FREE_BACKEND.format(after_movers=_AFTER_MOVERS)
_FREE_FOR_MOVER = _FREE_BACKEND.format(after_movers="")


def _claimable_chat(alias: str) -> str:
    """A chat answer waiting, or running with a lease that ran out (its process died)."""
    return (
        f"({alias}.kind = 'chat' AND ({alias}.status = 'pending' OR {alias}.lease_until < now()))"
    )


def _urgent_ticket(alias: str) -> str:
    """A waiting ticket (its owner alive) that counts as a person waiting."""
    return f"""({alias}.kind = 'ticket' AND {alias}.status = 'pending'
                AND {alias}.lease_until > now()
                AND ({alias}.priority = 0
                     OR {alias}.enqueued_at < now() - make_interval(secs => $3)))"""


_JOB_COLUMNS = "id, org_id, user_id, kind, message_id, backend, attempts"
# The claim's optional restriction to some messages ($6: the answers queued here).
_ONLY_MESSAGES = (
    "($6::bigint[] IS NULL"
    " OR ({alias}.status = 'pending' AND {alias}.message_id = ANY($6::bigint[])))"
)


def _job(row: asyncpg.Record) -> ClaimedJob:
    return ClaimedJob(
        id=row["id"],
        org_id=row["org_id"],
        user_id=row["user_id"],
        kind=JobKind(row["kind"]),
        message_id=row["message_id"],
        backend=row["backend"],
        attempts=row["attempts"],
    )


class AIQueueStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the fleet ---

    async def register_backends(self, backends: Sequence[dict[str, object]]) -> None:
        """Record (or update) the model servers this process knows; others stay."""
        await self.db.system("ai worker").executemany(
            """INSERT INTO llm_backends (name, provider, base_url, model, capacity, weight)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (name) DO UPDATE SET provider = EXCLUDED.provider,
                   base_url = EXCLUDED.base_url, model = EXCLUDED.model,
                   capacity = EXCLUDED.capacity, weight = EXCLUDED.weight, updated_at = now()""",
            [
                (b["name"], b["provider"], b["base_url"], b["model"], b["capacity"], b["weight"])
                for b in backends
            ],
        )

    async def backend_states(self) -> list[BackendState]:
        rows = await self.db.system("ai worker").fetch(
            f"""WITH live AS ({_LIVE})
                SELECT b.*, coalesce(used.n, 0) AS in_use,
                       coalesce(b.ejected_until > now(), false) AS is_ejected
                FROM llm_backends b
                LEFT JOIN (SELECT backend, count(*) AS n FROM live GROUP BY backend) used
                       ON used.backend = b.name
                ORDER BY b.name"""
        )
        return [
            BackendState(
                name=r["name"],
                provider=r["provider"],
                base_url=r["base_url"],
                model=r["model"],
                capacity=r["capacity"],
                weight=r["weight"],
                slots_in_use=r["in_use"],
                ejected_until=r["ejected_until"] if r["is_ejected"] else None,
                consecutive_failures=r["consecutive_failures"],
                last_error=r["last_error"],
                ejected=r["is_ejected"],
            )
            for r in rows
        ]

    async def backend_failed(
        self,
        name: str,
        error: str,
        *,
        eject_after: int,
        backoff_seconds: float,
        backoff_max_seconds: float,
    ) -> bool:
        """Count a failure; the `eject_after`-th in a row ejects the backend for a back-off
        that doubles with each ejection since its last success. True when it ejected."""
        row = await self.db.system("ai worker").fetchrow(
            """UPDATE llm_backends b SET
                   last_error = $2, updated_at = now(),
                   consecutive_failures = CASE WHEN b.consecutive_failures + 1 >= $3 THEN 0
                                               ELSE b.consecutive_failures + 1 END,
                   ejections = CASE WHEN b.consecutive_failures + 1 >= $3 THEN b.ejections + 1
                                    ELSE b.ejections END,
                   ejected_until = CASE WHEN b.consecutive_failures + 1 >= $3
                       THEN now() + make_interval(
                           secs => least($5, $4 * 2 ^ least(b.ejections, 20)))
                       ELSE b.ejected_until END
               WHERE name = $1
               RETURNING b.consecutive_failures = 0 AND b.ejected_until > now() AS ejected""",
            name,
            error[:500],
            eject_after,
            backoff_seconds,
            backoff_max_seconds,
        )
        return bool(row and row["ejected"])

    async def backend_ok(self, name: str) -> None:
        await self.db.system("ai worker").execute(
            """UPDATE llm_backends SET consecutive_failures = 0, ejections = 0, updated_at = now()
               WHERE name = $1 AND (consecutive_failures > 0 OR ejections > 0)
                 AND (ejected_until IS NULL OR ejected_until <= now())""",
            name,
        )

    async def queue_length(self) -> int:
        """Chat answers and tickets waiting for a slot."""
        value = await self.db.system("ai worker").fetchval(
            f"""SELECT count(*) FROM ai_jobs j
                WHERE {_claimable_chat("j")}
                   OR (kind = 'ticket' AND status = 'pending' AND lease_until > now())"""
        )
        return int(value)

    # --- chat answers: claimed by any worker ---

    async def claim(
        self,
        owner: str,
        *,
        backends: Sequence[str],
        aging_seconds: float,
        lease_seconds: float,
        only_messages: Sequence[int] | None = None,
    ) -> Claim:
        """The next chat answer in fair order with a slot of a backend (None when nothing
        waits or no slot is free), whether anything else was waiting then, and whether a
        slot was left free.

        Fair order: the organization with the fewest running jobs, then its user with the
        fewest, then the oldest; an urgent ticket waiting longer goes first (it is granted
        to its owner, so nothing is claimed here). Whether more waited (another chat answer
        this claim could take, a ticket, or an answer moving off a failed server): when
        nothing did, the claimer need not look again until told of new work, nor wake the
        other processes when it frees a slot; that saves claim transactions on every answer."""
        async with self.db.system("ai worker").transaction() as conn:
            # The claim commits without waiting for its WAL flush (this transaction only):
            # a claim lost in a database crash leaves the job pending or past its lease, and
            # it is claimed again. Saves a disk flush on the way to every AI answer.
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', 'off', true)",
                _CLAIM_LOCK_KEY,
            )
            row = await conn.fetchrow(
                f"""WITH live AS ({_LIVE}), {_FREE_FOR_NEW},
                    org_load AS (SELECT org_id, count(*) AS n FROM live GROUP BY org_id),
                    user_load AS (SELECT org_id, user_id, count(*) AS n FROM live
                                  GROUP BY org_id, user_id),
                    next AS (
                        SELECT j.id FROM ai_jobs j
                        LEFT JOIN org_load o ON o.org_id = j.org_id
                        LEFT JOIN user_load u ON u.org_id = j.org_id
                                             AND u.user_id IS NOT DISTINCT FROM j.user_id
                        WHERE {_claimable_chat("j")} AND {_ONLY_MESSAGES.format(alias="j")}
                          AND j.id < coalesce((SELECT min(t.id) FROM ai_jobs t
                                               WHERE {_urgent_ticket("t")}),
                                              9223372036854775807)
                        ORDER BY coalesce(o.n, 0), coalesce(u.n, 0), j.id
                        LIMIT 1),
                    claimed AS (
                        UPDATE ai_jobs SET status = 'running', owner = $4,
                               backend = (SELECT name FROM free), moving_from = NULL,
                               attempts = attempts + 1,
                               lease_until = now() + make_interval(secs => $5),
                               started_at = now()
                        WHERE id = (SELECT id FROM next) AND EXISTS (SELECT 1 FROM free)
                        RETURNING {_JOB_COLUMNS}),
                    open_slots AS (
                        SELECT coalesce(sum(greatest(b.capacity - coalesce(used.n, 0), 0)), 0)
                               AS n
                        FROM llm_backends b
                        LEFT JOIN (SELECT backend, count(*) AS n FROM live GROUP BY backend) used
                               ON used.backend = b.name
                        WHERE b.name = ANY($1::text[])
                          AND (b.ejected_until IS NULL OR b.ejected_until <= now()))
                    SELECT c.*,
                           (SELECT n FROM open_slots) > (SELECT count(*) FROM claimed)
                               AS slot_left,
                           EXISTS (
                        SELECT 1 FROM ai_jobs w
                        WHERE w.id IS DISTINCT FROM (SELECT id FROM claimed)
                          AND (({_claimable_chat("w")} AND {_ONLY_MESSAGES.format(alias="w")})
                               OR (w.kind = 'ticket' AND w.status = 'pending'
                                   AND w.lease_until > now())
                               OR (w.moving_from IS NOT NULL AND w.status = 'running'
                                   AND w.lease_until > now()))) AS more_waiting
                    FROM (SELECT 1) AS one LEFT JOIN claimed c ON true""",
                list(backends),
                [],
                aging_seconds,
                owner,
                lease_seconds,
                None if only_messages is None else list(only_messages),
            )
        assert row is not None
        job = _job(row) if row["id"] is not None else None
        return Claim(job, bool(row["more_waiting"]), bool(row["slot_left"]))

    # --- tickets: a proactive run waits for a slot of its own ---

    async def add_ticket(
        self,
        org_id: UUID,
        user_id: UUID | None,
        priority: Priority,
        owner: str,
        lease_seconds: float,
    ) -> int:
        value = await self.db.system("ai worker").fetchval(
            """INSERT INTO ai_jobs (org_id, user_id, kind, priority, owner, lease_until)
               VALUES ($1, $2, 'ticket', $3, $4, now() + make_interval(secs => $5))
               RETURNING id""",
            org_id,
            user_id,
            int(priority),
            owner,
            lease_seconds,
        )
        return int(value)

    async def grant_ticket(
        self, ticket_id: int, *, backends: Sequence[str], aging_seconds: float, lease_seconds: float
    ) -> str | None:
        """A slot for the ticket, or None: none free, or (a proactive run not waited long
        enough) a chat answer is waiting."""
        async with self.db.system("ai worker").transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK_KEY)
            value = await conn.fetchval(
                f"""WITH live AS ({_LIVE}), {_FREE_FOR_NEW}
                    UPDATE ai_jobs t SET status = 'running', backend = (SELECT name FROM free),
                           attempts = attempts + 1, started_at = now(),
                           lease_until = now() + make_interval(secs => $5)
                    WHERE t.id = $4 AND t.status = 'pending' AND EXISTS (SELECT 1 FROM free)
                      AND ({_urgent_ticket("t")}
                           OR NOT EXISTS (SELECT 1 FROM ai_jobs j WHERE {_claimable_chat("j")}))
                    RETURNING t.backend""",
                list(backends),
                [],
                aging_seconds,
                ticket_id,
                lease_seconds,
            )
        return str(value) if value is not None else None

    # --- both ---

    async def move(
        self, job_id: int, *, backends: Sequence[str], exclude: Sequence[str], lease_seconds: float
    ) -> str | None:
        """Give a running job a slot of another backend (its own failed); None if none is
        free: the job then holds no slot (the failed call is over) and waits with `exclude`
        on record, before every new claim on the servers it may take."""
        async with self.db.system("ai worker").transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK_KEY)
            value = await conn.fetchval(
                f"""WITH live AS ({_LIVE}), {_FREE_FOR_MOVER}
                    UPDATE ai_jobs SET backend = (SELECT name FROM free),
                           moving_from = CASE WHEN EXISTS (SELECT 1 FROM free) THEN NULL
                                              ELSE $2::text[] END,
                           lease_until = now() + make_interval(secs => $4)
                    WHERE id = $3 AND status = 'running'
                    RETURNING backend""",
                list(backends),
                list(exclude),
                job_id,
                lease_seconds,
            )
        return str(value) if value is not None else None

    async def stop_moving(self, job_id: int) -> None:
        """The job gave up waiting for another backend: new claims need not wait for it."""
        await self.db.system("ai worker").execute(
            "UPDATE ai_jobs SET moving_from = NULL WHERE id = $1", job_id
        )

    async def extend(self, job_ids: Sequence[int], owner: str, lease_seconds: float) -> None:
        """Heartbeat: keep this process's jobs and tickets (running or waiting) its own."""
        if job_ids:
            await self.db.system("ai worker").execute(
                """UPDATE ai_jobs SET lease_until = now() + make_interval(secs => $3)
                   WHERE id = ANY($1::bigint[]) AND owner = $2""",
                list(job_ids),
                owner,
                lease_seconds,
            )

    async def abandon(self, job_id: int, owner: str) -> None:
        """Let the job be claimed again at once (its process is stopping)."""
        await self.db.system("ai worker").execute(
            "UPDATE ai_jobs SET lease_until = now() WHERE id = $1 AND owner = $2", job_id, owner
        )

    async def finish(self, job_id: int) -> None:
        await self.db.system("ai worker").execute("DELETE FROM ai_jobs WHERE id = $1", job_id)

    async def forget_dead_tickets(self) -> int:
        """Tickets whose process stopped renewing them (it died while waiting or running)."""
        status = await self.db.system("ai worker").execute(
            "DELETE FROM ai_jobs WHERE kind = 'ticket' AND lease_until < now()"
        )
        return int(status.split()[-1])
