"""Tool use in Qwen's format, rendered into the canonical messages when a record is converted.

    system_with_tools("Be brief.", '[{"name": "f", "parameters": {}}]', "tools")
    call_text('{"name": "f", "arguments": {"x": 1}}', "conversations[1]")

As Qwen2.5/Qwen3 chat templates and LLaMA-Factory's qwen templates write them:
  tools column     appended to the system prompt: "# Tools ... <tools>{one JSON per line}</tools>
                   ... <tool_call>" instructions (the prompt alone when the record has none;
                   LLaMA-Factory's qwen template would put its default system prompt first)
  function_call    an assistant turn of <tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>
                   blocks, one per call (OpenAI tool_calls too; string arguments holding a JSON
                   object are parsed, as Qwen's own template shows them as an object)
  observation      a turn of role "tool", which the templates wrap in <tool_response>
A call that is not JSON with a "name", or tools that are not a JSON list of objects, make the
record bad with that reason; nothing is dropped silently.
"""
from __future__ import annotations

import json
from typing import Any

from .records import RecordError, short

TOOL_PROMPT = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>{tools}"
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": "
    "<function-name>, \"arguments\": <args-json-object>}}\n</tool_call>")


def _json(value: Any, where: str, what: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise RecordError(where, f"{what} is not valid JSON ({e.msg} at column {e.colno})") from None


def system_with_tools(system: str, tools: Any, where: str) -> str:
    """The system prompt with the tool definitions appended (unchanged when there are none)."""
    if tools is None or tools == "":
        return system
    parsed = _json(tools, where, "tools")
    if not isinstance(parsed, list) or not all(isinstance(t, dict) for t in parsed):
        raise RecordError(where, "tools must be a JSON list of function definitions, got "
                          f"{type(parsed).__name__}")
    if not parsed:
        return system
    lines = "".join("\n" + json.dumps(t if t.get("type") == "function"
                                      else {"type": "function", "function": t}, ensure_ascii=False,
                                      default=str)  # parquet: dates and the like as text
                    for t in parsed)
    prompt = TOOL_PROMPT.format(tools=lines)
    return f"{system}\n\n{prompt}" if system else prompt


def call_text(content: Any, where: str) -> str:
    """A function_call turn's content (one call or a list, as JSON) as <tool_call> blocks."""
    if isinstance(content, str) and content.lstrip().startswith("<tool_call>"):
        return content  # already in Qwen's format
    calls = _json(content, where, "function_call")
    calls = calls if isinstance(calls, list) else [calls]
    blocks = []
    for call in calls:
        call = call.get("function", call) if isinstance(call, dict) else call
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise RecordError(where, 'function_call must be {"name": ..., "arguments": {...}} '
                              f"(or a list of them), got {short(call)}")
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                pass  # free text arguments stay text
        text = json.dumps({"name": call["name"], "arguments": arguments}, ensure_ascii=False,
                          default=str)
        blocks.append(f"<tool_call>\n{text}\n</tool_call>")
    if not blocks:
        raise RecordError(where, "function_call holds no call")
    return "\n".join(blocks)
