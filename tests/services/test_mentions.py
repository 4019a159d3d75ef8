from __future__ import annotations

import pytest

from engine.services.chats.mentions import parse_mentions


@pytest.mark.parametrize(
    ("text", "users", "roles"),
    [
        ("привет @ivanov", ("ivanov",), ()),
        ("@Ivanov, глянь", ("ivanov",), ()),
        ("спроси @petrova.", ("petrova",), ()),
        ("конец фразы @petrova...", ("petrova",), ()),
        ("(@sidorov)", ("sidorov",), ()),
        ("@иван.петров посмотри", ("иван.петров",), ()),
        ("@Мария!", ("мария",), ()),
        ("@@lawyer проверь договор", (), ("lawyer",)),
        ("@@lawyer и @@accountant, и снова @@lawyer", (), ("lawyer", "accountant")),
        ("@@LAWYER?", (), ("lawyer",)),
        ("@@@x не упоминание", (), ()),
        ("@@hr, @ivanov: вопрос", ("ivanov",), ("hr",)),
        ("почта ivan@example.com и a.b@c.ru", (), ()),
        ("пиши на @ivanov@example.com", (), ()),
        ("код `@@lawyer` и `@ivanov` не считаются", (), ()),
        ("```\n@@lawyer внутри блока\n```\nа @@hr снаружи", (), ("hr",)),
        ("нет упоминаний вообще", (), ()),
        ("@ одинокая собака", (), ()),
        ("@@ одна пара", (), ()),
        ("word@@lawyer склеено", (), ()),
        ("@@lawyer@@hr", (), ()),
        ("@ivanov @ivanov @IVANOV", ("ivanov",), ()),
        ("@user_1-2 ok", ("user_1-2",), ()),
    ],
)
def test_parse_mentions(text: str, users: tuple[str, ...], roles: tuple[str, ...]) -> None:
    parsed = parse_mentions(text)
    assert parsed.usernames == users
    assert parsed.role_codes == roles
