"""`python -m engine ...` is the `rugpt` command (useful where the script is not on PATH)."""

from engine.cli import main

raise SystemExit(main())
