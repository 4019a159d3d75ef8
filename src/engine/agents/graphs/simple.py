"""`simple`: system prompt + history → LLM; with tools, a bounded ReAct loop (LangGraph)."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from engine.agents.context import AgentContext
from engine.agents.graphs.base import GraphDeps
from engine.agents.state import AgentState, unanswered_tool_calls


def _deps(config: RunnableConfig) -> tuple[GraphDeps, AgentContext]:
    configurable = config["configurable"]
    return configurable["deps"], configurable["ctx"]


async def call_model(state: AgentState, config: RunnableConfig) -> dict:
    deps, ctx = _deps(config)
    out_of_steps = state.model_turns >= deps.max_steps
    without_tools = out_of_steps or ctx.log.tools_unavailable is not None
    tools = None if without_tools else deps.tools.schemas_for(ctx) or None
    reply = await deps.gate.complete(state.messages, tools=tools, on_token=ctx.on_token)
    ctx.log.note_reply(reply)
    if out_of_steps and reply.tool_calls:
        reply = AIMessage(content=reply.content or "", id=reply.id)
    return {"messages": [reply], "model_turns": state.model_turns + 1}


async def run_tools(state: AgentState, config: RunnableConfig) -> dict:
    deps, ctx = _deps(config)
    results = []
    for call in unanswered_tool_calls(state.messages):
        output = await deps.tools.invoke(ctx, call["name"], call.get("args"))
        results.append(ToolMessage(content=output, tool_call_id=call["id"], name=call["name"]))
    return {"messages": results}


def route_after_model(state: AgentState) -> Literal["tools", "__end__"]:
    last = state.messages[-1] if state.messages else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    return "__end__"


def build_react_graph():  # type: ignore[no-untyped-def]
    graph = StateGraph(AgentState)
    graph.add_node("model", call_model)
    graph.add_node("tools", run_tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route_after_model, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile()


REACT_GRAPH = build_react_graph()


def final_text(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and not message.tool_calls:
            return str(message.content).strip()
    return ""


async def run_simple(deps: GraphDeps, ctx: AgentContext, messages: list[BaseMessage]) -> str:
    state = await REACT_GRAPH.ainvoke(
        AgentState(messages=messages),
        config={
            "configurable": {"deps": deps, "ctx": ctx},
            "recursion_limit": 2 * deps.max_steps + 5,
        },
    )
    return final_text(state["messages"])
