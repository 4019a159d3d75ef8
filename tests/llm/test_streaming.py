"""Streamed pieces of an answer, and where the shown text starts over."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from engine.config import Settings
from engine.llm.factory import build_chat_model
from engine.llm.fleet import CURRENT_LEASE, FleetGate, SlotLease
from engine.llm.gate import LLMError, LLMGate
from tests.fakes.llm_server import Reply, ScriptedLLM


def _gate(server: ScriptedLLM) -> LLMGate:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_provider="ollama",
        llm_base_url=server.ollama_base_url,
        llm_timeout_seconds=5.0,
    )
    return LLMGate(build_chat_model(settings), max_concurrency=1, timeout=5.0)


async def test_a_call_rerouted_mid_answer_marks_its_first_piece_to_start_over(
    llm: ScriptedLLM,
) -> None:
    async with ScriptedLLM() as healthy:
        llm.queue(Reply.close_mid_stream("Начинаю отвечать"))
        healthy.queue(Reply.text("Отпуск — 28 календарных дней."))
        fleet = FleetGate({"broken": _gate(llm), "healthy": _gate(healthy)}, default="broken")

        async def reroute(lease: SlotLease, error: LLMError) -> None:
            lease.failed.append(lease.backend)
            lease.backend = "healthy"

        pieces: list[tuple[str, bool]] = []
        token = CURRENT_LEASE.set(SlotLease(job_id=1, backend="broken", reroute=reroute))
        try:
            reply = await fleet.complete(
                [HumanMessage("Сколько дней отпуска?")],
                on_token=lambda delta, first: pieces.append((delta, first)),
            )
        finally:
            CURRENT_LEASE.reset(token)

    assert reply.content == "Отпуск — 28 календарных дней."
    starts = [index for index, (_, first) in enumerate(pieces) if first]
    assert len(starts) == 2 and starts[0] == 0  # the cut-off call, then the rerouted one
    assert "".join(delta for delta, _ in pieces[: starts[1]]) == "Начинаю отвечать"
    assert "".join(delta for delta, _ in pieces[starts[1] :]) == reply.content
