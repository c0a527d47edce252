"""Where the mocks are: the one place that knows how they are started.

`mock_map()` returns `{slot: {provider: {scenario_label: base_url}}}`. A slot is
one kind of SDK call (`SLOTS`); every slot has its own mocks, so scenarios that
count requests ("rate limited once, then fine") start afresh for each call.
Each slot is shaped like the output line of
`cargo run -p byok-testkit --example serve`.

- `BYOK_SDK_MOCKS=FILE`: read the map from FILE (what `tests/sdk.rs` does: it
  starts the mocks in its own process and writes this file).
- otherwise: start one `serve` example per slot with cargo and read its line;
  the processes are stopped when the suite ends (their stdin closes).

To use another launcher (the `byok mock serve` CLI), change `_start_serving`.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import subprocess

SLOTS = ("list", "call", "stream", "responses", "responses_stream")

_REPO = pathlib.Path(__file__).resolve().parents[3]
_servers: list[subprocess.Popen] = []


def _start_serving() -> dict:
    """Start one set of mocks (every catalogue scenario, every provider); return its map."""
    proc = subprocess.Popen(
        ["cargo", "run", "-q", "-p", "byok-testkit", "--example", "serve"],
        cwd=_REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    _servers.append(proc)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the serve example exited before printing its map")
    return json.loads(line)


def _stop_serving() -> None:
    for proc in _servers:
        proc.stdin.close()  # the serve example stops when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


atexit.register(_stop_serving)

_cache: dict | None = None


def mock_map() -> dict:
    """The mocks of every slot, started once per run."""
    global _cache
    if _cache is None:
        path = os.environ.get("BYOK_SDK_MOCKS")
        if path:
            _cache = json.loads(pathlib.Path(path).read_text())
        else:
            _cache = {slot: _start_serving() for slot in SLOTS}
    return _cache


def mock_url(slot: str, provider: str, scenario: str) -> str:
    """The base URL of the mock that plays `scenario` for `provider` in `slot`."""
    try:
        return mock_map()[slot][provider][scenario]
    except KeyError as e:
        raise LookupError(f"no mock for {slot}/{provider}/{scenario} in the mock map") from e
