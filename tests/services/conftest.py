from tests.support.stack import (  # noqa: F401 - fixtures
    fake_smtp,
    fake_telegram,
    isolated_database_url,
    stack,
    stack_settings,
)
