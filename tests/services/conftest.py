from tests.support.stack import (  # noqa: F401 - fixtures
    fake_smtp,
    fake_telegram,
    isolated_database_url,
    migrated_template,
    smtp_server,
    stack,
    stack_settings,
    telegram_server,
)
