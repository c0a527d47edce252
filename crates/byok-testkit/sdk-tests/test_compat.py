"""The `openai` SDK as judge of the OpenAI-compatible mocks.

OpenRouter, Groq, xAI, DeepSeek, Mistral, Together, Fireworks, Azure OpenAI
(`openai.AzureOpenAI`) and Cohere's Compatibility API are driven through
`chat.completions.create`, streamed and not, and Perplexity through the
Responses API: the SDK must parse every answer, report the mock's documented
usage (9 prompt tokens, the 12-word reply cut by the cap) and the provider's
extras, and raise its own exception classes for the providers' refusal bodies.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from mocks import play, requests

PROMPT = "The quick brown fox jumps over the lazy dog"
PROMPT_TOKENS = 9
REPLY = "This is the mock answer and it has exactly twelve short words".split(" ")

# provider -> (path prefix of its OpenAI-compatible API, model)
COMPAT = {
    "openrouter": ("/api/v1", "openai/gpt-4.1-nano"),
    "groq": ("/openai/v1", "llama-3.1-8b-instant"),
    "xai": ("/v1", "grok-3-mini"),
    "deepseek": ("", "deepseek-chat"),
    "mistral": ("/v1", "mistral-small-latest"),
    "together": ("/v1", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"),
    "fireworks": ("/inference/v1", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
    "cohere": ("/compatibility/v1", "command-r7b-12-2024"),
}
KEY = "test-key-for-the-sdk-0123456789abcdef"


def client(provider: str, url: str, **kw: Any) -> Any:
    if provider == "azure_openai":
        return openai.AzureOpenAI(api_key=KEY, azure_endpoint=url, api_version="2024-10-21", max_retries=0, **kw)
    prefix = "/v1" if provider == "perplexity" else COMPAT[provider][0]
    return openai.OpenAI(api_key=KEY, base_url=url + prefix, max_retries=0, **kw)


def model(provider: str) -> str:
    return "gpt-4o-mini" if provider == "azure_openai" else COMPAT[provider][1]


CHAT = [*COMPAT, "azure_openai"]


@pytest.mark.parametrize("provider", CHAT)
def test_chat_completions_parse_with_usage(provider: str) -> None:
    url = play(provider, "valid")
    r = client(provider, url).chat.completions.create(
        model=model(provider), messages=[{"role": "user", "content": PROMPT}], max_tokens=5
    )
    assert r.choices[0].message.content == " ".join(REPLY[:5])
    assert r.choices[0].finish_reason == "length"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (PROMPT_TOKENS, 5)
    extra = r.usage.model_extra or {}
    if provider == "xai":
        # 1 USD = 10^10 ticks; the mock reports $1/$2 per million tokens.
        assert extra["cost_in_usd_ticks"] == (PROMPT_TOKENS + 2 * 5) * 10_000
    if provider == "openrouter":
        assert extra["cost"] == pytest.approx((PROMPT_TOKENS + 2 * 5) / 1e6)
    if provider == "deepseek":
        assert extra["prompt_cache_miss_tokens"] == PROMPT_TOKENS
    sent = requests(provider)
    assert len(sent) == 1 and sent[0]["endpoint"] == "billable", sent


@pytest.mark.parametrize("provider", CHAT)
def test_streams_parse_and_end_with_usage(provider: str) -> None:
    url = play(provider, "valid")
    extra: dict[str, Any] = {}
    if provider != "mistral":  # Mistral refuses `stream_options` and sends usage anyway.
        extra["stream_options"] = {"include_usage": True}
    stream = client(provider, url).chat.completions.create(
        model=model(provider), messages=[{"role": "user", "content": PROMPT}], max_tokens=5, stream=True, **extra
    )
    text, usage = "", None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == " ".join(REPLY[:5])
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, 5)


def test_perplexity_through_the_responses_api() -> None:
    url = play("perplexity", "valid")
    r = client("perplexity", url).responses.create(model="sonar", input=PROMPT, max_output_tokens=16)
    assert r.output_text == " ".join(REPLY)
    assert (r.usage.input_tokens, r.usage.output_tokens) == (PROMPT_TOKENS, len(REPLY))
    cost = (r.usage.model_extra or {})["cost"]
    assert cost["total_cost"] == pytest.approx((PROMPT_TOKENS + 2 * len(REPLY) + 5_000) / 1e6)
    stream = client("perplexity", url).responses.create(model="sonar", input=PROMPT, max_output_tokens=16, stream=True)
    events = list(stream)
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.input_tokens == PROMPT_TOKENS


# (provider, scenario, the SDK's exception class, HTTP status)
REFUSALS = [
    ("openrouter", "invalid_key", openai.AuthenticationError, 401),
    ("openrouter", "no_credits", openai.APIStatusError, 402),
    ("groq", "invalid_key", openai.AuthenticationError, 401),
    ("xai", "invalid_key", openai.BadRequestError, 400),
    ("xai", "no_credits", openai.RateLimitError, 429),
    ("deepseek", "no_credits", openai.APIStatusError, 402),
    ("mistral", "invalid_key", openai.AuthenticationError, 401),
    ("together", "no_credits", openai.APIStatusError, 402),
    ("fireworks", "no_credits", openai.APIStatusError, 412),
    ("azure_openai", "invalid_key", openai.AuthenticationError, 401),
    ("azure_openai", "model_access", openai.NotFoundError, 404),
    ("cohere", "invalid_key", openai.AuthenticationError, 401),
]


@pytest.mark.parametrize(("provider", "scenario", "error", "status"), REFUSALS)
def test_refusals_raise_the_sdks_errors(provider: str, scenario: str, error: type, status: int) -> None:
    url = play(provider, scenario)
    with pytest.raises(error) as raised:
        client(provider, url).chat.completions.create(
            model=model(provider), messages=[{"role": "user", "content": PROMPT}], max_tokens=5
        )
    assert raised.value.status_code == status
    # The SDK reads the provider's message from its own body shape where it can.
    assert str(raised.value)
    assert len(requests(provider)) == 1
