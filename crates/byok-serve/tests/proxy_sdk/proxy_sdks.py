"""The official SDKs through the byok proxy (driven by `tests/proxy_sdk.rs`).

The pinned `openai`, `anthropic` and `google-genai` clients (the versions of
`crates/byok-testkit/sdk-tests/requirements.txt`) are pointed at
`{proxy}/proxy/{provider}` with a byok app token as their API key, changing
nothing else, and at the mock directly with the provider key. For each SDK and
each kind of call (plain and streamed; OpenAI's Responses API too) it asserts
that the answer through the proxy is the answer without it (text and usage),
that a budget denial raises the SDK's error with byok's code after ONE request
(no retries, with the SDK's default retry policy), and that a workspace whose
primary key has no credits is answered by its backup.

The configuration comes in the environment (`BYOK_PROXY_SDK`, JSON): the
proxy's URL, the mocks' URLs, the app tokens and the mocks' keys. The last line
of stdout is a JSON report for the Rust side (usage per proxied call, what
each denial raised); any failed assertion exits non-zero.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anthropic
import httpx2
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

CONFIG = json.loads(os.environ["BYOK_PROXY_SDK"])
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
PROMPT = "The quick brown fox jumps over the lazy dog"
SLOTS = {
    "openai": ["call", "stream", "responses", "responses_stream"],
    "anthropic": ["call", "stream"],
    "gemini": ["call", "stream"],
}


class Counter:
    """An httpx `request` event hook: every attempt the SDK sends, retries included."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, request: httpx2.Request) -> None:
        self.requests += 1


def client(sdk: str, base: str, key: str, counter: Counter) -> Any:
    """The SDK's client with its default retry policy; only the base URL and key are ours."""
    hooks = {"request": [counter]}
    if sdk == "openai":
        return openai.OpenAI(
            api_key=key, base_url=base + "/v1", timeout=20.0,
            http_client=openai.DefaultHttpxClient(event_hooks=hooks),
        )
    if sdk == "anthropic":
        return anthropic.Anthropic(
            api_key=key, base_url=base, timeout=20.0,
            http_client=anthropic.DefaultHttpxClient(event_hooks=hooks),
        )
    return genai.Client(
        api_key=key,
        http_options=genai_types.HttpOptions(
            base_url=base, timeout=20000, httpx_client=httpx2.Client(event_hooks=hooks, timeout=20.0),
        ),
    )


def ping(sdk: str, slot: str, c: Any) -> dict[str, Any]:
    """One call; its text and usage as the SDK reports them."""
    model = MODELS[sdk]
    msgs = [{"role": "user", "content": PROMPT}]
    if sdk == "openai":
        if slot == "call":
            r = c.chat.completions.create(model=model, messages=msgs, max_completion_tokens=5)
            return {"text": r.choices[0].message.content, "input": r.usage.prompt_tokens, "output": r.usage.completion_tokens}
        if slot == "stream":
            s = c.chat.completions.create(
                model=model, messages=msgs, max_completion_tokens=5, stream=True, stream_options={"include_usage": True}
            )
            chunks = list(s)
            text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
            u = chunks[-1].usage
            return {"text": text, "input": u.prompt_tokens, "output": u.completion_tokens}
        if slot == "responses":
            r = c.responses.create(model=model, input=PROMPT, max_output_tokens=16)
            return {"text": r.output_text, "input": r.usage.input_tokens, "output": r.usage.output_tokens}
        s = c.responses.create(model=model, input=PROMPT, max_output_tokens=16, stream=True)
        events = list(s)
        assert events[-1].type == "response.completed", [e.type for e in events]
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        u = events[-1].response.usage
        return {"text": text, "input": u.input_tokens, "output": u.output_tokens}
    if sdk == "anthropic":
        if slot == "call":
            m = c.messages.create(model=model, max_tokens=5, messages=msgs)
            return {"text": m.content[0].text, "input": m.usage.input_tokens, "output": m.usage.output_tokens}
        with c.messages.stream(model=model, max_tokens=5, messages=msgs) as s:
            text = "".join(s.text_stream)
            m = s.get_final_message()
        return {"text": text, "input": m.usage.input_tokens, "output": m.usage.output_tokens}
    config = genai_types.GenerateContentConfig(max_output_tokens=5)
    if slot == "call":
        r = c.models.generate_content(model=model, contents=PROMPT, config=config)
        u = r.usage_metadata
        return {"text": r.text, "input": u.prompt_token_count, "output": u.candidates_token_count + (u.thoughts_token_count or 0)}
    chunks = list(c.models.generate_content_stream(model=model, contents=PROMPT, config=config))
    u = chunks[-1].usage_metadata
    text = "".join(ch.text or "" for ch in chunks)
    return {"text": text, "input": u.prompt_token_count, "output": u.candidates_token_count + (u.thoughts_token_count or 0)}


def raised(sdk: str, e: BaseException) -> dict[str, Any]:
    """What the SDK's exception says: its class, status and byok's code."""
    out: dict[str, Any] = {"class": f"{type(e).__module__}.{type(e).__name__}", "message": str(e)}
    if isinstance(e, openai.APIStatusError):
        out.update(status=e.status_code, code=e.code)
    elif isinstance(e, anthropic.APIStatusError):
        out.update(status=e.status_code, code=e.body["error"]["type"] if isinstance(e.body, dict) else None)
    elif isinstance(e, genai_errors.APIError):
        reasons = [d.get("reason") for d in (e.details or {}).get("error", {}).get("details", []) if "reason" in d]
        out.update(status=e.code, code=reasons[0] if reasons else None)
    return out


def main() -> None:
    proxy = CONFIG["proxy"]
    report: dict[str, Any] = {"calls": [], "denied": [], "fallback": []}
    for sdk, provider in (("openai", "openai"), ("anthropic", "anthropic"), ("gemini", "google")):
        via = f"{proxy}/proxy/{provider}"
        direct = CONFIG["mocks"][sdk]
        for slot in SLOTS[sdk]:
            counter = Counter()
            mine = ping(sdk, slot, client(sdk, via, CONFIG["tokens"]["ok"], counter))
            theirs = ping(sdk, slot, client(sdk, direct, CONFIG["keys"][sdk], Counter()))
            assert mine == theirs, f"{sdk}/{slot}: through the proxy {mine}, direct {theirs}"
            assert mine["text"] and mine["input"] > 0 and mine["output"] > 0, mine
            assert counter.requests == 1, f"{sdk}/{slot}: {counter.requests} requests"
            report["calls"].append({"sdk": sdk, "slot": slot, "model": MODELS[sdk], **mine})
        for slot in ("call", "stream"):
            counter = Counter()
            try:
                ping(sdk, slot, client(sdk, via, CONFIG["tokens"]["deny"], counter))
            except Exception as e:  # noqa: BLE001 - the SDK's own class is what we report
                got = raised(sdk, e)
            else:
                raise AssertionError(f"{sdk}/{slot}: a denied budget answered")
            assert got.get("status") == 402 and got.get("code") == "budget_denied", f"{sdk}/{slot}: {got}"
            assert "budget" in got["message"], got
            assert counter.requests == 1, f"{sdk}/{slot}: the SDK sent {counter.requests} requests (retried a denial)"
            report["denied"].append({"sdk": sdk, "slot": slot, "requests": counter.requests, **got})
        counter = Counter()
        answer = ping(sdk, "call", client(sdk, via, CONFIG["tokens"]["fallback"], counter))
        assert answer["text"], answer
        assert counter.requests == 1, counter.requests
        report["fallback"].append({"sdk": sdk, **answer})
    print(json.dumps(report))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
