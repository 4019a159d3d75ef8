"""`multi_agent`: a supervisor StateGraph that delegates to other roles (one node each) and
merges their answers."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from engine.agents.context import AgentContext, StepRecord
from engine.agents.graphs.base import GraphDeps
from engine.agents.graphs.simple import final_text, run_tools
from engine.agents.state import AgentState, unanswered_tool_calls

DELEGATE_PREFIX = "ask_"
MAX_DEPTH = 2


def delegate_tool(code: str, description: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": f"{DELEGATE_PREFIX}{code}",
            "description": f"Передать вопрос специалисту «{code}»: {description}",
            "parameters": {
                "type": "object",
                "properties": {"question": {"type": "string", "description": "вопрос"}},
                "required": ["question"],
            },
        },
    }


def _node_for(call: dict, delegates: tuple[str, ...]) -> str:
    name = call.get("name", "")
    code = name[len(DELEGATE_PREFIX) :] if name.startswith(DELEGATE_PREFIX) else ""
    return f"delegate_{code}" if code in delegates else "tools"


def _router(delegates: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def route(state: AgentState) -> str:
        pending = unanswered_tool_calls(state.messages)
        if pending:
            return _node_for(pending[0], delegates)
        last = state.messages[-1] if state.messages else None
        if isinstance(last, AIMessage):
            return END
        return "supervisor"

    return route


async def supervise(state: AgentState, config: RunnableConfig) -> dict:
    deps: GraphDeps = config["configurable"]["deps"]
    ctx: AgentContext = config["configurable"]["ctx"]
    delegate_tools: list[dict[str, Any]] = config["configurable"]["delegate_tools"]
    out_of_steps = state.model_turns >= deps.max_steps
    without_tools = out_of_steps or ctx.log.tools_unavailable is not None
    tools = None if without_tools else [*delegate_tools, *deps.tools.schemas_for(ctx)]
    reply = await deps.gate.complete(state.messages, tools=tools or None, on_token=ctx.on_token)
    ctx.log.note_reply(reply)
    if out_of_steps and reply.tool_calls:
        reply = AIMessage(content=reply.content or "", id=reply.id)
    return {"messages": [reply], "model_turns": state.model_turns + 1}


def _delegate_node(code: str):  # type: ignore[no-untyped-def]
    async def delegate(state: AgentState, config: RunnableConfig) -> dict:
        deps: GraphDeps = config["configurable"]["deps"]
        ctx: AgentContext = config["configurable"]["ctx"]
        answers = []
        for call in unanswered_tool_calls(state.messages):
            if call.get("name") != f"{DELEGATE_PREFIX}{code}":
                continue
            question = str((call.get("args") or {}).get("question") or "")
            answer = await _ask(deps, ctx, code, question)
            ctx.log.steps.append(
                StepRecord(name=f"delegate:{code}", output=answer, role_code=ctx.role.code)
            )
            answers.append(ToolMessage(content=answer, tool_call_id=call["id"], name=call["name"]))
        return {"messages": answers}

    return delegate


async def _ask(deps: GraphDeps, ctx: AgentContext, code: str, question: str) -> str:
    if not question:
        return "Пустой вопрос: специалисту нечего ответить."
    if code in ctx.call_chain or code == ctx.role.code or ctx.depth >= MAX_DEPTH:
        return f"Специалист {code} недоступен в этой цепочке обращений."
    role = await deps.load_role(ctx, code)
    if role is None:
        return f"Роль {code} не найдена в организации."
    return await deps.run_role(ctx.child(role), [HumanMessage(question)])


@lru_cache(maxsize=64)
def build_supervisor_graph(delegates: tuple[str, ...]):  # type: ignore[no-untyped-def]
    graph = StateGraph(AgentState)
    graph.add_node("supervisor", supervise)
    graph.add_node("tools", run_tools)
    for code in delegates:
        graph.add_node(f"delegate_{code}", _delegate_node(code))
    targets = ["tools", END, *(f"delegate_{c}" for c in delegates)]
    route = _router(delegates)
    graph.add_edge(START, "supervisor")
    graph.add_conditional_edges("supervisor", route, targets)
    for node in ["tools", *(f"delegate_{c}" for c in delegates)]:
        graph.add_conditional_edges(node, route, [*targets, "supervisor"])
    return graph.compile()


async def run_multi_agent(deps: GraphDeps, ctx: AgentContext, messages: list[BaseMessage]) -> str:
    delegates = tuple(
        str(c) for c in ctx.role.config.get("delegates", []) if str(c) != ctx.role.code
    )
    graph = build_supervisor_graph(delegates)
    delegate_tools = []
    for code in delegates:
        role = await deps.load_role(ctx, code)
        if role is not None:
            delegate_tools.append(delegate_tool(code, role.description))
    state = await graph.ainvoke(
        AgentState(messages=messages),
        config={
            "configurable": {"deps": deps, "ctx": ctx, "delegate_tools": delegate_tools},
            "recursion_limit": 4 * deps.max_steps + 10,
        },
    )
    return final_text(state["messages"])
