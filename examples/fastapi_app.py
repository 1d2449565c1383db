"""A FastAPI chat endpoint guarded by a policy.

    uvicorn examples.fastapi_app:app --host 127.0.0.1 --port 8000
    curl -s localhost:8000/chat -H 'content-type: application/json' \
         -d '{"messages": [{"role": "user", "content": "my mail is jane@example.com"}]}'

``POST /chat`` takes ``{"messages": [...]}`` (or ``{"message": "..."}``) and answers
``{"reply": ..., "refused": ..., "rules": [...]}``; ``POST /chat/stream`` streams the
answer as text/plain, guarded chunk by chunk. The caller's role (header ``X-User-Role``)
reaches the policy as ``context.role``. The "model" is a local async fake: swap in your
LLM client (or wrap an ``openai.AsyncOpenAI`` with ``guard.openai(client)``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, Header
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

import policylang
from policylang import Refused

guard = policylang.load(Path(__file__).resolve().parent / "middleware_support.policy")
app = FastAPI(title="policylang guarded chat")


class ChatRequest(BaseModel):
    messages: Optional[list[dict]] = None
    message: Optional[str] = None

    def as_messages(self) -> list[dict]:
        if self.messages:
            return self.messages
        return [{"role": "user", "content": self.message or ""}]


async def fake_llm(messages: list[dict]) -> str:
    """Stands in for an LLM call (it sees the REDACTED messages)."""
    await asyncio.sleep(0)
    last = messages[-1]["content"] if messages else ""
    if "contact" in last.lower():
        return "Write to support@acme.example or call us."
    return f"You said: {last}"


async def fake_llm_stream(messages: list[dict]):
    reply = await fake_llm(messages)
    for i in range(0, len(reply), 4):
        await asyncio.sleep(0)
        yield reply[i:i + 4]


# raise on refusal so that the endpoint can say which rule refused
guarded_llm = guard.wrap(fake_llm, on_refuse="raise")
guarded_llm_stream = guard.wrap(fake_llm_stream)


@app.post("/chat")
async def chat(req: ChatRequest, x_user_role: Optional[str] = Header(default=None)):
    try:
        reply = await guarded_llm(req.as_messages(), policy_context={"role": x_user_role})
    except Refused as refused:
        d = refused.decision
        return {"reply": d.text, "refused": True, "rules": [c.rule_id for c in d.citations if c.action == "refuse"]}
    return {"reply": reply, "refused": False, "rules": []}


@app.post("/chat/stream")
async def chat_stream(req: ChatRequest, x_user_role: Optional[str] = Header(default=None)):
    chunks = guarded_llm_stream(req.as_messages(), policy_context={"role": x_user_role})
    return StreamingResponse(chunks, media_type="text/plain")
