"""LM backends (OpenAI-compatible HTTP, vLLM, local transformers), judge prompts, strict parsing, taggers."""
