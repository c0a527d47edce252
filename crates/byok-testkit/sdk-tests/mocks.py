"""Where the mocks are: `byok mock serve`, driven through its control API.

One `byok mock serve --json` process serves the three providers for the whole
run; each test picks its scenario with `play(provider, label)`, which resets the
provider's mock (recorded requests forgotten, counts restarted) and sets the
scenario and its parameters. `requests(provider)` reads what the mock received
(keys masked), to count the attempts an SDK made.

- `BYOK_BIN`: the `byok` binary to run (what `crates/byok-cli/tests/sdk.rs`
  sets); otherwise `cargo run -q -p byok-cli --`.
- The process is stopped with SIGTERM when the suite ends.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shlex
import signal
import subprocess
import urllib.request

_REPO = pathlib.Path(__file__).resolve().parents[3]

# Catalogue labels (a scenario's name and its parameters) -> the control API body.
SCENARIOS: dict[str, dict] = {
    "rate_limited_1x10ms": {"name": "rate_limited", "times": 1, "retry_after_ms": 10},
    "rate_limited_99x45000ms": {"name": "rate_limited", "times": 99, "retry_after_ms": 45000},
    "outage_1x500": {"name": "outage", "times": 1, "status": 500},
    "outage_99x503": {"name": "outage", "times": 99, "status": 503},
    "outage_99x529": {"name": "outage", "times": 99, "status": 529},
    "slow_20ms": {"name": "slow", "ms": 20},
    "stream_error_after_1": {"name": "stream_error", "after": 1},
    "stream_cut_after_1": {"name": "stream_cut", "after": 1},
    "stream_stall_300ms": {"name": "stream_stall", "after": 1, "stall_ms": 300},
}


# The providers the suite drives (control API codes): the first three with their
# own SDKs, the rest through the `openai` SDK at their OpenAI-compatible routes.
PROVIDERS = [
    "openai", "anthropic", "google",
    "openrouter", "groq", "xai", "deepseek", "mistral", "together", "fireworks",
    "perplexity", "azure_openai", "cohere",
]


def wanted(label: str) -> dict:
    """The control API body for a label (a bare name takes no parameters)."""
    return dict(SCENARIOS.get(label, {"name": label}))


class Served:
    """The running `byok mock serve` and its control API."""

    def __init__(self) -> None:
        command = [os.environ["BYOK_BIN"]] if os.environ.get("BYOK_BIN") else shlex.split("cargo run -q -p byok-cli --")
        flags = [arg for p in PROVIDERS for arg in ("--provider", p)]
        self.proc = subprocess.Popen(
            command + ["mock", "serve", "--json", *flags],
            cwd=_REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url: dict[str, str] = {}
        self.control_url = ""
        for _ in PROVIDERS:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("byok mock serve exited before printing one line per provider")
            served = json.loads(line)
            name = "gemini" if served["provider"] == "google" else served["provider"]
            self.base_url[name] = served["base_url"]
            self.control_url = served["control_url"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.control_url + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_served: Served | None = None


def served() -> Served:
    global _served
    if _served is None:
        _served = Served()
        atexit.register(_served.stop)
    return _served


def _control_name(provider: str) -> str:
    return "google" if provider == "gemini" else provider


def play(provider: str, label: str, **usage: int) -> str:
    """Reset `provider`'s mock and play the scenario `label` (plus usage extras); its base URL."""
    s = served()
    p = _control_name(provider)
    s.call("POST", f"/providers/{p}/reset")
    s.call("PUT", f"/providers/{p}/scenario", {**wanted(label), **usage})
    return s.base_url[provider]


def requests(provider: str) -> list[dict]:
    """What `provider`'s mock received since the last `play` (keys masked)."""
    return served().call("GET", f"/providers/{_control_name(provider)}/requests")["requests"]


def scenario_names(provider: str) -> set[str]:
    """The names of every scenario `provider` plays (`GET /scenarios`)."""
    listed = served().call("GET", "/scenarios")["scenarios"]
    return {s["name"] for s in listed if _control_name(provider) in s["providers"]}
