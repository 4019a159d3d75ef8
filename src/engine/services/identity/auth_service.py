"""Login, refresh-token rotation with reuse detection, logout, and access-token checks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from uuid import UUID

from engine.config import Settings
from engine.errors import RateLimited, Unauthorized
from engine.models.access import Revocation, RevocationReason
from engine.models.auth import TokenClaims, TokenPair
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.identity.access import Caller
from engine.services.identity.passwords import PasswordHasher
from engine.services.identity.tokens import ACCESS, REFRESH, TokenCodec, hash_token
from engine.storage.auth_tokens import LoginFailureStorage, RefreshTokenStorage
from engine.storage.organizations import OrganizationStorage
from engine.storage.postgres.database import Database
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "invalid credentials"
MAX_LOGIN_CANDIDATES = 5


class AuthService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        users: UserStorage,
        refresh_tokens: RefreshTokenStorage,
        login_failures: LoginFailureStorage,
        hasher: PasswordHasher,
        organizations: OrganizationStorage,
        audit: AuditTrail,
    ) -> None:
        self.organizations = organizations
        self.audit = audit
        self.settings = settings
        self.db = db
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.login_failures = login_failures
        self.hasher = hasher
        self.codec = TokenCodec(settings)
        # ends the live streams of a session that logs out (set by the engine: the chat bus)
        self.on_revoked: Callable[[Revocation], None] | None = None

    async def login(
        self, login: str, password: str, *, organization: str | None, client_ip: str
    ) -> tuple[User, TokenPair]:
        account_key = f"{(organization or '*').lower()}:{login.strip().lower()}"
        # The attempt is counted before the password is checked, so parallel guesses see
        # each other: at most `login_max_failures_per_*` passwords are ever tried per window.
        attempt = await self.login_failures.record(account_key, client_ip)
        try:
            await self._check_throttle(account_key, client_ip)
        except RateLimited:
            await self.login_failures.forget(attempt)
            raise
        candidates = await self.users.find_credentials(
            login.strip(), organization, limit=MAX_LOGIN_CANDIDATES
        )
        matched: User | None = None
        if not candidates:
            await self.hasher.verify(password, None)
        for candidate in candidates:
            if await self.hasher.verify(password, candidate.password_hash):
                if candidate.user.is_active and candidate.org_active:
                    matched = candidate.user
                break
        if matched is None:  # the recorded attempt stays as a failure
            log.info("failed login for %r from %s", account_key, client_ip)
            await self._audit_failure(
                candidates[0].user if candidates else None, login, organization
            )
            raise Unauthorized(INVALID_CREDENTIALS)
        await self.login_failures.forget(attempt)
        await self.login_failures.clear_account(account_key)
        async with self.db.tenant(matched.org_id).transaction() as conn:
            pair = await self._issue_pair(matched, family_id=uuid.uuid4(), conn=conn)
            await self.audit.record(
                conn,
                org_id=matched.org_id,
                actor=matched,
                action="auth.login",
                target_type="user",
                target_id=matched.id,
            )
        return matched, pair

    async def _audit_failure(
        self, candidate: User | None, login: str, organization: str | None
    ) -> None:
        """A failed login changes nothing: its row is a statement of its own. It goes to the
        organization of the account tried, or to the system organization when none matched."""
        org_id = candidate.org_id if candidate else None
        if org_id is None:
            system = await self.organizations.get_system()
            if system is None:
                return
            org_id = system.id
        await self.audit.record_alone(
            org_id=org_id,
            actor=None,
            action="auth.login_failed",
            target_type="user" if candidate else None,
            target_id=candidate.id if candidate else None,
            details={"login": login[:200], "organization": (organization or "")[:200]},
        )

    async def _check_throttle(self, account_key: str, client_ip: str) -> None:
        window = self.settings.login_failure_window_seconds
        account_failures = await self.login_failures.count_recent("account", account_key, window)
        ip_failures = await self.login_failures.count_recent("ip", client_ip, window)
        if (  # the counts include the attempt being checked
            account_failures > self.settings.login_max_failures_per_account
            or ip_failures > self.settings.login_max_failures_per_ip
        ):
            raise RateLimited("too many failed login attempts; try again later", retry_after=window)

    async def _issue_pair(self, user: User, *, family_id: UUID, conn=None) -> TokenPair:  # type: ignore[no-untyped-def]
        access, _ = self.codec.issue(
            user_id=user.id,
            org_id=user.org_id,
            role=user.role,
            token_type=ACCESS,
            session_id=family_id,
        )
        token_id = uuid.uuid4()
        refresh, refresh_expires = self.codec.issue(
            user_id=user.id,
            org_id=user.org_id,
            role=user.role,
            token_type=REFRESH,
            jti=str(token_id),
        )
        await self.refresh_tokens.add(
            token_id=token_id,
            org_id=user.org_id,
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_token(refresh),
            expires_at=refresh_expires,
            conn=conn,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=self.settings.access_token_ttl_seconds,
            refresh_expires_in=self.settings.refresh_token_ttl_seconds,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self.codec.decode(refresh_token, expected_type=REFRESH)
        # Looked up before the row lock: inside it, a second pool connection per waiting
        # refresh could exhaust the pool while the lock holder waits for one (deadlock).
        user = await self.users.get_active_for_token(claims.org_id, claims.user_id)
        reused_family: UUID | None = None
        async with self.db.system("refresh tokens").transaction() as conn:
            record = await self.refresh_tokens.get_for_update(hash_token(refresh_token), conn)
            if record is None or record.revoked_at is not None:
                raise Unauthorized("refresh token revoked")
            if record.used_at is not None:
                reused_family = record.family_id
            else:
                if user is None:
                    raise Unauthorized("account disabled")
                await self.refresh_tokens.mark_used(record.id, conn)
                return await self._issue_pair(user, family_id=record.family_id, conn=conn)
        log.warning("refresh token reuse for user %s: family revoked", claims.user_id)
        await self.refresh_tokens.revoke_family(reused_family)
        self._revoked(
            Revocation(RevocationReason.LOGGED_OUT, claims.org_id, session_id=reused_family)
        )
        raise Unauthorized("refresh token reused; session revoked")

    async def logout(self, refresh_token: str) -> None:
        try:
            self.codec.decode(refresh_token, expected_type=REFRESH)
        except Unauthorized:
            return
        async with self.db.system("refresh tokens").transaction() as conn:
            record = await self.refresh_tokens.get_for_update(hash_token(refresh_token), conn)
            if record is not None:
                await self.refresh_tokens.revoke_family(record.family_id, conn=conn)
        if record is not None:
            self._revoked(
                Revocation(RevocationReason.LOGGED_OUT, record.org_id, session_id=record.family_id)
            )

    def _revoked(self, revocation: Revocation) -> None:
        if self.on_revoked is not None:
            self.on_revoked(revocation)

    async def authenticate(self, access_token: str) -> User:
        return (await self.authenticate_session(access_token))[0]

    async def authenticate_session(self, access_token: str) -> tuple[User, TokenClaims]:
        """The user and the claims of their access token (its expiry, its session)."""
        claims = self.codec.decode(access_token, expected_type=ACCESS)
        return await self._active_user(claims), claims

    def caller(self, access_token: str) -> Caller:
        """The caller a valid access token names, without reading the account: for the
        statements that check the account themselves (`Caller`)."""
        claims = self.codec.decode(access_token, expected_type=ACCESS)
        return Caller(claims.org_id, claims.user_id, lambda: self._active_user(claims))

    async def _active_user(self, claims: TokenClaims) -> User:
        user = await self.users.get_active_for_token(claims.org_id, claims.user_id)
        if user is None:
            raise Unauthorized("account disabled or not found")
        return user
