"""The official SDKs as judges of the mocks, served by `byok mock serve`.

Every catalogue scenario x every kind of call (list models, call, stream, and
OpenAI's Responses API plain and streamed) goes through the pinned `openai`,
`anthropic` and `google-genai` clients with their default retry policy. Each
test asserts what the SDK reports: the exception class, HTTP status, error
code / type, request id, usage and text, and how many requests the SDK sent
(counted twice: with an httpx `request` event hook on the client the SDK is
given, and by the mock, read through the control API).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from mocks import play, requests, scenario_names, wanted

KEYS = {
    "openai": "sk-proj-" + "Ab3" * 50,
    "anthropic": "sk-ant-api03-" + "Xy7" * 31 + "-AAAAAA",
    "gemini": "AIza" + "S" * 35,
}
MODELS = {
    "openai": "gpt-4o-mini-2024-07-18",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash-lite",
}
SLOTS = {
    "openai": ["list", "call", "stream", "responses", "responses_stream"],
    "anthropic": ["list", "call", "stream"],
    "gemini": ["list", "call", "stream"],
}
# The request ids the mocks send (OpenAI `x-request-id`, Anthropic `request-id`);
# Gemini sends none.
REQUEST_ID = {
    "openai": re.compile(r"^req_byok[0-9a-f]{24}$"),
    "anthropic": re.compile(r"^req_011CBYOK[0-9]{12}$"),
}
# Every billable call sends this prompt: 9 o200k tokens, the mocks' documented count.
PROMPT = "The quick brown fox jumps over the lazy dog"
PROMPT_TOKENS = 9
# The mocks' full answer (byok_testkit::REPLY_WORDS), one token a word.
REPLY = "This is the mock answer and it has exactly twelve short words".split(" ")
# Calls cap the output at 5 tokens (the reply is cut, finish reason says so); the
# Responses API at 16, its smallest allowed cap, which the whole reply fits under.
CAP = {"call": 5, "stream": 5, "responses": 16, "responses_stream": 16}

# The default client timeout, and the one for `hang` (every attempt times out).
TIMEOUT_S = 10.0
HANG_TIMEOUT_S = 0.5
# The long rate limit asks for 45 s, which the SDKs would honour on each of
# their 2 retries (90 s): these tests turn retries off and expect one request.
NO_RETRY = {"rate_limited_99x45000ms"}
# A read timeout shorter than the stall: the SDK gives up mid-stream.
STALL_TIMEOUT_S = 0.1


# --- What the SDK should report ------------------------------------------------


@dataclass(frozen=True)
class Ok:
    """The call succeeds after `attempts` requests."""

    attempts: int = 1


@dataclass(frozen=True)
class Refused:
    """The SDK raises `error` (its module-qualified class name) for an HTTP answer."""

    error: str
    status: int
    code: str | None = None  # OpenAI `code`, Anthropic `error_code`, Gemini `details[].reason`
    type: str | None = None  # OpenAI / Anthropic `type`, Gemini `status`
    attempts: int = 1
    request_id: bool = True  # whether the SDK reports a request id (never for Gemini)


@dataclass(frozen=True)
class Raises:
    """The SDK raises `error` without an HTTP status (timeouts, unparsable bodies)."""

    error: str
    attempts: int = 1


Expect = Ok | Refused | Raises


def both(expect: Expect) -> tuple[Expect, Expect]:
    """The same answer to list models and to the billable call."""
    return (expect, expect)

# Per provider, per scenario label: (list models, billable call). A refused
# billable call refuses the same way streamed, as the real API answers before
# a stream's first byte; OpenAI's Responses API refuses like chat completions.
# The SDKs retry 408, 409, 429 and >= 500 twice by default (openai, anthropic);
# google-genai does not retry unless told to.
INV = "invalid_request_error"
OPENAI: dict[str, tuple[Expect, Expect]] = {
    "valid": (Ok(), Ok()),
    "invalid_key": both(Refused("openai.AuthenticationError", 401, "invalid_api_key", INV)),
    "deactivated": both(Refused("openai.AuthenticationError", 401, "account_deactivated", INV)),
    # Without an OpenAI-Organization header there is nothing to mismatch
    # (test_openai_organization_mismatch sends one).
    "organization_mismatch": (Ok(), Ok()),
    "missing_scope": (Refused("openai.AuthenticationError", 401, None, INV), Ok()),
    "model_access": (Ok(), Refused("openai.NotFoundError", 404, "model_not_found", INV)),
    "region": both(Refused("openai.PermissionDeniedError", 403, "unsupported_country_region_territory", "request_forbidden")),
    # openai-python retries an insufficient_quota 429 like a rate limit.
    "no_credits": (Ok(), Refused("openai.RateLimitError", 429, "insufficient_quota", "insufficient_quota", attempts=3)),
    "spend_limit": (
        Ok(),
        Refused("openai.RateLimitError", 429, "organization_spend_limit_exceeded", INV, attempts=3),
    ),
    "rate_limited_1x10ms": (Ok(attempts=2), Ok(attempts=2)),
    "rate_limited_99x45000ms": both(Refused("openai.RateLimitError", 429, "rate_limit_exceeded", "requests")),
    "outage_1x500": (Ok(attempts=2), Ok(attempts=2)),
    "outage_99x503": both(Refused("openai.InternalServerError", 503, None, "service_unavailable_error", attempts=3)),
    "slow_20ms": (Ok(), Ok()),
    "hang": both(Raises("openai.APITimeoutError", attempts=3)),
    # A 200 with an HTML page: the SDK hands back the page as a `str` (it
    # parses only JSON content types), so reading a field fails.
    "garbage": both(Raises("AttributeError")),
    # Stream scenarios disturb streams only (STREAM_TROUBLE); plain answers are fine.
    "stream_error_after_1": (Ok(), Ok()),
    "stream_cut_after_1": (Ok(), Ok()),
    "stream_stall_300ms": (Ok(), Ok()),
    # Blank lines before the JSON body, which JSON allows.
    "keep_alive": (Ok(), Ok()),
}
ANTHROPIC: dict[str, tuple[Expect, Expect]] = {
    "valid": (Ok(), Ok()),
    "invalid_key": both(Refused("anthropic.AuthenticationError", 401, None, "authentication_error")),
    "deactivated": both(Refused("anthropic.BadRequestError", 400, None, INV)),
    "organization_on_hold": both(Refused("anthropic.OrganizationOnHoldError", 400, "organization_on_hold", INV)),
    "model_access": (Ok(), Refused("anthropic.NotFoundError", 404, None, "not_found_error")),
    # Answered at Anthropic's edge: no envelope, no request id.
    "region": both(Refused("anthropic.PermissionDeniedError", 403, None, "forbidden", request_id=False)),
    "permission_denied": both(Refused("anthropic.PermissionDeniedError", 403, None, "permission_error")),
    "no_credits": (Ok(), Refused("anthropic.BadRequestError", 400, None, INV)),
    "spend_limit": (Ok(), Refused("anthropic.BadRequestError", 400, None, INV)),
    # anthropic-python retries it like any 429 (byok does not: PROVIDERS.md).
    "tier_spend_cap": (
        Ok(),
        Refused(
            "anthropic.EnforcedSpendLimitReachedError",
            429,
            "enforced_spend_limit_reached",
            "rate_limit_error",
            attempts=3,
        ),
    ),
    "billing": (Ok(), Refused("anthropic.PaymentRequiredError", 402, None, "billing_error")),
    "rate_limited_1x10ms": (Ok(attempts=2), Ok(attempts=2)),
    "rate_limited_99x45000ms": both(Refused("anthropic.RateLimitError", 429, None, "rate_limit_error")),
    "outage_1x500": (Ok(attempts=2), Ok(attempts=2)),
    "outage_99x503": both(Refused("anthropic.ServiceUnavailableError", 503, None, "api_error", attempts=3)),
    "outage_99x529": both(Refused("anthropic.OverloadedError", 529, None, "overloaded_error", attempts=3)),
    "slow_20ms": (Ok(), Ok()),
    "hang": both(Raises("anthropic.APITimeoutError", attempts=3)),
    "garbage": both(Raises("AttributeError")),
    "stream_error_after_1": (Ok(), Ok()),
    "stream_cut_after_1": (Ok(), Ok()),
    "stream_stall_300ms": (Ok(), Ok()),
    "keep_alive": (Ok(), Ok()),
}
CE, SE = "google.genai.errors.ClientError", "google.genai.errors.ServerError"
GEMINI: dict[str, tuple[Expect, Expect]] = {
    "valid": (Ok(), Ok()),
    "invalid_key": both(Refused(CE, 400, "API_KEY_INVALID", "INVALID_ARGUMENT", request_id=False)),
    "expired_key": both(Refused(CE, 400, "API_KEY_INVALID", "INVALID_ARGUMENT", request_id=False)),
    "suspended": both(Refused(CE, 403, "CONSUMER_SUSPENDED", "PERMISSION_DENIED", request_id=False)),
    "api_blocked": both(Refused(CE, 403, "API_KEY_SERVICE_BLOCKED", "PERMISSION_DENIED", request_id=False)),
    "service_disabled": both(Refused(CE, 403, "SERVICE_DISABLED", "PERMISSION_DENIED", request_id=False)),
    "region": both(Refused(CE, 400, None, "FAILED_PRECONDITION", request_id=False)),
    "no_credits": (Ok(), Refused(CE, 429, None, "RESOURCE_EXHAUSTED", request_id=False)),
    "daily_quota": (Ok(), Refused(CE, 429, None, "RESOURCE_EXHAUSTED", request_id=False)),
    "rate_limited_1x10ms": both(Refused(CE, 429, None, "RESOURCE_EXHAUSTED", request_id=False)),
    "rate_limited_99x45000ms": both(Refused(CE, 429, None, "RESOURCE_EXHAUSTED", request_id=False)),
    "outage_1x500": both(Refused(SE, 500, None, "INTERNAL", request_id=False)),
    "outage_99x503": both(Refused(SE, 503, None, "UNAVAILABLE", request_id=False)),
    "slow_20ms": (Ok(), Ok()),
    "hang": both(Raises("httpx2.ReadTimeout")),
    "garbage": both(Raises("json.decoder.JSONDecodeError")),
    "stream_error_after_1": (Ok(), Ok()),
    "stream_cut_after_1": (Ok(), Ok()),
    "stream_stall_300ms": (Ok(), Ok()),
}
EXPECT = {"openai": OPENAI, "anthropic": ANTHROPIC, "gemini": GEMINI}


class NoEvents(Exception):
    """The SDK's stream ended without a single event (it raised nothing itself)."""


class ResponseFailed(Exception):
    """A Responses API stream ended with `response.failed` after an `error` event
    (openai-python yields both as events; it raises nothing itself)."""


# What the SDKs do when a stream breaks after its 200 (per stream slot):
# the error event, the cut connection. Retries do not apply any more.
STREAM_TROUBLE: dict[str, dict[str, Expect]] = {
    "stream_error_after_1": {
        "openai/stream": Raises("openai.APIError"),
        "openai/responses_stream": Raises("test_sdks.ResponseFailed"),
        # The `error` event under a 200: anthropic-python's base status error, body attached.
        "anthropic/stream": Raises("anthropic.APIStatusError"),
        "gemini/stream": Refused(SE, 503, None, "UNAVAILABLE", request_id=False),
    },
    # openai-python wraps the broken read as APIConnectionError; the others let httpx's through.
    "stream_cut_after_1": {
        "openai/stream": Raises("openai.APIConnectionError"),
        "openai/responses_stream": Raises("openai.APIConnectionError"),
        "anthropic/stream": Raises("httpx2.RemoteProtocolError"),
        "gemini/stream": Raises("httpx2.RemoteProtocolError"),
    },
}


# A 200 HTML page where a stream was asked for: openai-python yields no events
# and raises nothing, anthropic-python trips its own `assert`, google-genai
# reports the body it could not parse.
GARBAGE_STREAM: dict[str, Expect] = {
    "openai": Raises("test_sdks.NoEvents"),
    "anthropic": Raises("AssertionError"),
    "gemini": Raises("google.genai.errors.UnknownApiResponseError"),
}


# --- Clients that count their requests -----------------------------------------


class Counter:
    """An httpx `request` event hook: counts the requests a client sends."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def __call__(self, request: httpx2.Request) -> None:
        self.requests.append(f"{request.method} {request.url.path}")


def make_client(provider: str, url: str, counter: Counter, *, timeout: float, max_retries: int | None, **extra: Any):
    """The SDK's client for `url`, sending through an httpx client that `counter` watches.

    `max_retries=None` keeps the SDK's default, which the tests also assert.
    """
    hooks = {"request": [counter]}
    if provider == "openai":
        kw = {} if max_retries is None else {"max_retries": max_retries}
        client = openai.OpenAI(
            api_key=KEYS[provider],
            base_url=url + "/v1",
            timeout=timeout,
            http_client=openai.DefaultHttpxClient(event_hooks=hooks),
            **kw,
            **extra,
        )
        assert max_retries is not None or client.max_retries == 2
        return client
    if provider == "anthropic":
        kw = {} if max_retries is None else {"max_retries": max_retries}
        client = anthropic.Anthropic(
            api_key=KEYS[provider],
            base_url=url,
            timeout=timeout,
            http_client=anthropic.DefaultHttpxClient(event_hooks=hooks),
            **kw,
            **extra,
        )
        assert max_retries is not None or client.max_retries == 2
        return client
    # google-genai: no retries unless `retry_options` says so; its timeout is in ms.
    return genai.Client(
        api_key=KEYS[provider],
        http_options=genai_types.HttpOptions(
            base_url=url,
            timeout=int(timeout * 1000),
            httpx_client=httpx2.Client(event_hooks=hooks, timeout=timeout),
            **extra,
        ),
    )


@dataclass
class Answer:
    """What the SDK returned for a successful call."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    request_id: str | None = None
    text: str | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


def ping(provider: str, slot: str, client: Any) -> Answer:
    """Make the slot's call through the SDK and read what it reports."""
    model = MODELS[provider]
    msgs = [{"role": "user", "content": PROMPT}]
    cap = CAP.get(slot)
    if provider == "openai":
        if slot == "list":
            page = client.models.list()
            assert [m.id for m in page.data][:1] == [model]
            return Answer(request_id=page._request_id)
        if slot == "call":
            r = client.chat.completions.create(model=model, messages=msgs, max_completion_tokens=cap)
            assert r.choices[0].finish_reason == "length"
            u = r.usage
            return Answer(
                u.prompt_tokens, u.completion_tokens, r._request_id, r.choices[0].message.content,
                u.prompt_tokens_details.cached_tokens, u.completion_tokens_details.reasoning_tokens,
            )
        if slot == "stream":
            stream = client.chat.completions.create(
                model=model, messages=msgs, max_completion_tokens=cap, stream=True, stream_options={"include_usage": True}
            )
            chunks = list(stream)
            if not chunks:
                raise NoEvents(slot)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
            u = chunks[-1].usage
            assert all(c.usage is None for c in chunks[:-1])
            rid = stream.response.headers.get("x-request-id")
            return Answer(
                u.prompt_tokens, u.completion_tokens, rid, text,
                u.prompt_tokens_details.cached_tokens, u.completion_tokens_details.reasoning_tokens,
            )
        if slot == "responses":
            r = client.responses.create(model=model, input=PROMPT, max_output_tokens=cap)
            assert r.status == "completed"
            u = r.usage
            return Answer(
                u.input_tokens, u.output_tokens, r._request_id, r.output_text,
                u.input_tokens_details.cached_tokens, u.output_tokens_details.reasoning_tokens,
            )
        if slot == "responses_stream":
            stream = client.responses.create(model=model, input=PROMPT, max_output_tokens=cap, stream=True)
            events = list(stream)
            if not events:
                raise NoEvents(slot)
            if events[-1].type == "response.failed":
                assert any(e.type == "error" for e in events), [e.type for e in events]
                raise ResponseFailed(events[-1].response.error.message)
            assert events[-1].type == "response.completed"
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            done = events[-1].response
            assert done.output_text == text
            rid = stream.response.headers.get("x-request-id")
            u = done.usage
            return Answer(
                u.input_tokens, u.output_tokens, rid, text,
                u.input_tokens_details.cached_tokens, u.output_tokens_details.reasoning_tokens,
            )
    if provider == "anthropic":
        if slot == "list":
            page = client.models.list()
            assert page.data[0].id.startswith(model)
            return Answer(request_id=page._request_id)
        if slot == "call":
            m = client.messages.create(model=model, max_tokens=cap, messages=msgs)
            assert m.stop_reason == "max_tokens"
            u = m.usage
            return Answer(u.input_tokens, u.output_tokens, m._request_id, m.content[0].text, u.cache_read_input_tokens, None)
        if slot == "stream":
            with client.messages.stream(model=model, max_tokens=cap, messages=msgs) as s:
                text = "".join(s.text_stream)
                m = s.get_final_message()
                rid = s.request_id
            assert m.stop_reason == "max_tokens"
            u = m.usage
            return Answer(u.input_tokens, u.output_tokens, rid, text, u.cache_read_input_tokens, None)
    if provider == "gemini":
        config = genai_types.GenerateContentConfig(max_output_tokens=cap)
        if slot == "list":
            first = next(iter(client.models.list()))
            assert first.name == f"models/{model}"
            return Answer()
        if slot == "call":
            r = client.models.generate_content(model=model, contents=PROMPT, config=config)
            u = r.usage_metadata
            assert r.response_id == "byoktestkit0001"
            assert r.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
            return Answer(
                u.prompt_token_count, u.candidates_token_count + (u.thoughts_token_count or 0), None, r.text,
                u.cached_content_token_count or 0, u.thoughts_token_count or 0,
            )
        if slot == "stream":
            chunks = list(client.models.generate_content_stream(model=model, contents=PROMPT, config=config))
            u = chunks[-1].usage_metadata
            text = "".join(c.text or "" for c in chunks)
            assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
            return Answer(
                u.prompt_token_count, u.candidates_token_count + (u.thoughts_token_count or 0), None, text,
                u.cached_content_token_count or 0, u.thoughts_token_count or 0,
            )
    raise ValueError(f"{provider} has no slot {slot}")


def qualified(e: BaseException) -> str:
    """`openai.AuthenticationError`, `google.genai.errors.ClientError`, `AttributeError`."""
    cls = type(e)
    module = cls.__module__
    if module == "builtins":
        return cls.__name__
    for root in ("openai", "anthropic"):
        if module.startswith(root + ".") and getattr(__import__(root), cls.__name__, None) is cls:
            return f"{root}.{cls.__name__}"
    return f"{module}.{cls.__name__}"


def reported(provider: str, e: BaseException) -> dict[str, Any]:
    """What the SDK's exception says: status, code, type, request id."""
    if provider == "openai" and isinstance(e, openai.APIStatusError):
        return {"status": e.status_code, "code": e.code, "type": e.type, "request_id": e.request_id}
    if provider == "anthropic" and isinstance(e, anthropic.APIStatusError):
        return {"status": e.status_code, "code": e.error_code, "type": e.type, "request_id": e.request_id}
    if provider == "gemini" and isinstance(e, genai_errors.APIError):
        reasons = [d.get("reason") for d in (e.details or {}).get("error", {}).get("details", []) if "reason" in d]
        return {"status": e.code, "code": reasons[0] if reasons else None, "type": e.status, "request_id": None}
    return {}


# --- The grid ------------------------------------------------------------------


def grid() -> list[Any]:
    cases = []
    for provider, table in EXPECT.items():
        for scenario, (on_list, on_call) in table.items():
            for slot in SLOTS[provider]:
                expect = on_list if slot == "list" else on_call
                if scenario == "garbage" and slot.endswith("stream"):
                    expect = GARBAGE_STREAM[provider]
                expect = STREAM_TROUBLE.get(scenario, {}).get(f"{provider}/{slot}", expect)
                cases.append(pytest.param(provider, scenario, slot, expect, id=f"{provider}-{scenario}-{slot}"))
    return cases


def check(provider: str, slot: str, expect: Expect, attempt: Callable[[], Answer], counter: Counter) -> None:
    """Run `attempt` and compare what the SDK reports, and what it sent, with `expect`."""
    _check(provider, slot, expect, attempt, counter)
    # The mock counts the same requests the SDK's httpx hook saw.
    assert len(requests(provider)) == len(counter.requests), (requests(provider), counter.requests)


def _check(provider: str, slot: str, expect: Expect, attempt: Callable[[], Answer], counter: Counter) -> None:
    try:
        answer = attempt()
    except Exception as e:  # noqa: BLE001 - the class is what is asserted
        if isinstance(expect, Ok):
            raise AssertionError(f"expected success, the SDK raised {qualified(e)}: {e}") from e
        assert qualified(e) == expect.error, f"{qualified(e)}: {e}"
        if isinstance(expect, Refused):
            got = reported(provider, e)
            want = {"status": expect.status, "code": expect.code, "type": expect.type}
            assert {k: got.get(k) for k in want} == want
            rid = got.get("request_id")
            if expect.request_id:
                assert rid is not None and REQUEST_ID[provider].match(rid), rid
            else:
                assert rid is None, rid
        assert len(counter.requests) == expect.attempts, counter.requests
        return
    assert isinstance(expect, Ok), f"expected {expect}, the SDK succeeded: {answer}"
    assert len(counter.requests) == expect.attempts, counter.requests
    if provider in REQUEST_ID:
        assert answer.request_id is not None and REQUEST_ID[provider].match(answer.request_id), answer
    if slot != "list":
        words = min(CAP[slot], len(REPLY))
        assert (answer.input_tokens, answer.output_tokens) == (PROMPT_TOKENS, words), answer
        assert answer.text == " ".join(REPLY[:words]), answer


@pytest.mark.parametrize(("provider", "scenario", "slot", "expect"), grid())
def test_sdk_reports(provider: str, scenario: str, slot: str, expect: Expect) -> None:
    counter = Counter()
    client = make_client(
        provider,
        play(provider, scenario),
        counter,
        timeout=HANG_TIMEOUT_S if scenario == "hang" else TIMEOUT_S,
        max_retries=0 if scenario in NO_RETRY else None,
    )
    check(provider, slot, expect, lambda: ping(provider, slot, client), counter)


def test_every_served_scenario_has_an_expectation() -> None:
    """A scenario added to the catalogue fails here until its row is written."""
    for provider, table in EXPECT.items():
        assert {wanted(label)["name"] for label in table} == scenario_names(provider), provider


STREAMED = [("openai", "call", "stream"), ("openai", "responses", "responses_stream"), ("anthropic", "call", "stream"), ("gemini", "call", "stream")]


@pytest.mark.parametrize(("provider", "plain", "streamed"), STREAMED)
def test_streamed_usage_equals_unstreamed(provider: str, plain: str, streamed: str) -> None:
    """The same request, streamed and not, reports the same usage and text through the SDK,
    cache and reasoning tokens included (set through the control API)."""
    url = play(provider, "valid", cached_tokens=4, reasoning_tokens=2)
    a = ping(provider, plain, make_client(provider, url, Counter(), timeout=TIMEOUT_S, max_retries=None))
    b = ping(provider, streamed, make_client(provider, url, Counter(), timeout=TIMEOUT_S, max_retries=None))
    assert a == Answer(a.input_tokens, a.output_tokens, a.request_id, a.text, 4, a.reasoning_tokens), a
    assert (a.input_tokens, a.output_tokens, a.text, a.cached_tokens, a.reasoning_tokens) == (
        b.input_tokens, b.output_tokens, b.text, b.cached_tokens, b.reasoning_tokens)
    cap = CAP[plain]
    if provider == "anthropic":
        # No reasoning field: thinking is billed in output_tokens; input_tokens is the uncached rest.
        assert (a.input_tokens, a.output_tokens) == (PROMPT_TOKENS - 4, cap)
        assert a.text == " ".join(REPLY[: cap - 2])
    else:
        # Reasoning is spent first out of the cap; the visible words get the rest.
        visible = min(cap - 2, len(REPLY))
        assert (a.input_tokens, a.output_tokens, a.reasoning_tokens) == (PROMPT_TOKENS, visible + 2, 2)
        assert a.text == " ".join(REPLY[:visible])


@pytest.mark.parametrize(("provider", "slot"), [("openai", "stream"), ("openai", "responses_stream"), ("anthropic", "stream"), ("gemini", "stream")])
def test_a_stall_longer_than_the_read_timeout_fails_mid_stream(provider: str, slot: str) -> None:
    """A stream that goes silent for longer than the client's read timeout raises the timeout
    after the 200 (no retry: the response had started)."""
    counter = Counter()
    client = make_client(provider, play(provider, "stream_stall_300ms"), counter, timeout=STALL_TIMEOUT_S, max_retries=None)
    with pytest.raises(Exception) as raised:
        ping(provider, slot, client)
    assert qualified(raised.value) in {"httpx2.ReadTimeout", "openai.APITimeoutError", "anthropic.APITimeoutError"}, raised.value
    assert len(counter.requests) == 1


@pytest.mark.parametrize("slot", ["list", "call", "responses"])
def test_openai_organization_mismatch(slot: str) -> None:
    """With an `OpenAI-Organization` header that is not the key's, every call is refused."""
    counter = Counter()
    url = play("openai", "organization_mismatch")
    client = make_client("openai", url, counter, timeout=TIMEOUT_S, max_retries=None, organization="org-elsewhere")
    expect = Refused("openai.AuthenticationError", 401, "mismatched_organization", INV)
    check("openai", slot, expect, lambda: ping("openai", slot, client), counter)


@pytest.mark.parametrize("scenario", ["rate_limited_1x10ms", "outage_1x500"])
def test_gemini_retries_when_told_to(scenario: str) -> None:
    """google-genai with `retry_options` retries a 429 / 500 and recovers on the second request."""
    counter = Counter()
    url = play("gemini", scenario)
    retry = genai_types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.05)
    client = make_client("gemini", url, counter, timeout=TIMEOUT_S, max_retries=None, retry_options=retry)
    check("gemini", "call", Ok(attempts=2), lambda: ping("gemini", "call", client), counter)
