"""Benchmark 7, the web client: bundle size and what a person waits for in Chromium.

* Initial JavaScript of the production build (`web/dist`): the entry script and the modules
  index.html preloads, gzipped (level 9, as nginx/CDNs serve them at most), against 200 KB.
* In Debian's chromium (Playwright, `web/e2e/bench/web-client.mjs`), against a live engine
  serving the built client: time from navigation to a chat whose 50 messages are all on
  screen (warm HTTP cache, `--loads` runs), and from an AI token leaving the scripted LLM
  (paced, `--pace` s apart, each piece's send time recorded) through the engine and SSE to
  its appearance in the page (MutationObserver), p50/p99 over `--tokens` tokens.

    PYTHONPATH=src:. python bench/web_client.py [--loads 10] [--tokens 200] [--pace 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Figure, percentile  # noqa: E402

NAME = "7 web client"
DIST = common.REPO / "web" / "dist"
E2E = common.REPO / "web" / "e2e"
BUNDLE_LIMIT_KB = 200.0
TOKEN = re.compile(rb"w(\d{3})")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=10, help="openings of the 50-message chat")
    parser.add_argument("--tokens", type=int, default=200, help="AI tokens timed (max 999)")
    parser.add_argument("--pace", type=float, default=0.02, help="seconds between LLM tokens")
    return parser.parse_args(argv)


class _InitialScripts(HTMLParser):
    """The JavaScript index.html loads at once: module entry points and modulepreloads."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("type") == "module" and found.get("src"):
            self.paths.append(str(found["src"]))
        if tag == "link" and found.get("rel") == "modulepreload" and found.get("href"):
            self.paths.append(str(found["href"]))


def initial_js_gzip_kb(dist: Path = DIST) -> tuple[float, float, list[str]]:
    """(gzipped KB of the initial JS, raw KB of it, the files)."""
    parser = _InitialScripts()
    parser.feed((dist / "index.html").read_text(encoding="utf-8"))
    files = [p for p in parser.paths if not p.startswith(("http:", "https:", "//"))]
    raw = [(dist / p.lstrip("/")).read_bytes() for p in files]
    gzipped = sum(len(gzip.compress(body, compresslevel=9)) for body in raw)
    return gzipped / 1024, sum(map(len, raw)) / 1024, files


async def browser_run(env: dict[str, str]) -> dict[str, list[float]]:
    process = await asyncio.create_subprocess_exec(
        "node",
        "bench/web-client.mjs",
        cwd=E2E,
        env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"browser run failed:\n{err.decode()[-4000:]}")
    result: dict[str, list[float]] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def measure(args: argparse.Namespace) -> list[Figure]:
    from tests.fakes.llm_server import Reply

    gz_kb, raw_kb, files = initial_js_gzip_kb()
    print(f"initial JS: {', '.join(files)}: {raw_kb:.1f} KB, gzipped {gz_kb:.1f} KB")
    answer = " ".join(f"w{n:03d}" for n in range(1, args.tokens + 1))
    async with (
        common.postgres() as admin_dsn,
        common.fresh_database(admin_dsn) as dsn,
        common.scripted_llm() as llm,
    ):
        llm.set_default(Reply.text(answer, pace=args.pace))
        async with (
            common.engine_process(dsn, llm.ollama_base_url, web_dist_dir=str(DIST)) as engine,
            httpx.AsyncClient(base_url=engine.base_url, timeout=30) as client,
        ):
            org = await common.create_org(client, members=2)
            reader, writer = org.members
            history = await common.create_chat(client, reader, writer, title="50 сообщений")
            for n in range(1, 51):
                author = writer if n % 2 else reader
                posted = await client.post(
                    f"{common.API}/chats/{history}/messages",
                    headers=author.headers,
                    json={"content": f"Сообщение {n:02d}: текст обычной длины о договоре."},
                )
                posted.raise_for_status()
            ai_chat = await common.create_chat(client, reader, title="Токены")
            result = await browser_run(
                {
                    "BASE_URL": engine.base_url,
                    "ORGANIZATION": org.slug,
                    "USERNAME": reader.username,
                    "PASSWORD": common.USER_PASSWORD,
                    "CHAT_50": history,
                    "CHAT_AI": ai_chat,
                    "QUESTION": "@@lawyer ответь длинным текстом",
                    "TOKENS": str(args.tokens),
                    "LOADS": str(args.loads),
                }
            )
        sent_pieces = llm.sent_pieces
    # A chain role calls the model once per step and streams only the last call to the
    # chat, so each token's send time is that of its last sending.
    sent_at: dict[int, float] = {}
    for at, piece in sent_pieces:
        for match in TOKEN.finditer(piece):
            sent_at[int(match.group(1))] = at
    latencies = [
        seen_ms - sent_at[n] * 1000.0
        for n, seen_ms in enumerate(result["tokenSeenAt"], start=1)
        if n in sent_at
    ]
    loads = result["chatLoads"]
    print(f"chat loads (ms): {[round(ms) for ms in loads]}")
    return [
        Figure(
            NAME,
            "initial JS, gzipped",
            f"{gz_kb:.1f} KB ({raw_kb:.0f} KB raw, {len(files)} files)",
            f"<= {BUNDLE_LIMIT_KB:.0f} KB",
            gz_kb <= BUNDLE_LIMIT_KB,
        ),
        Figure(
            NAME,
            "navigation -> 50 messages on screen",
            f"p50 {percentile(loads, 50):.0f} ms, max {max(loads):.0f} ms ({len(loads)} loads)",
        ),
        Figure(
            NAME,
            "LLM token -> on screen",
            f"p50 {percentile(latencies, 50):.1f} ms p99 {percentile(latencies, 99):.1f} ms "
            f"({len(latencies)} tokens)",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    args = parse(argv)
    figures = common.run(lambda: measure(args))
    common.print_figures(figures)
    print(f"RESULT {NAME}: {'; '.join(f'{f.name} = {f.value}' for f in figures)}")
    return figures


if __name__ == "__main__":
    main()
