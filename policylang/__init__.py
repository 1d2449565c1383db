"""policylang: declarative guardrails for LLM applications."""
