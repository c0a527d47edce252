// `byok mock serve` from Node, with no Rust in the test: start it, read its
// lines, stream a chat completion, switch the scenario, read what was sent,
// stop it. Run by crates/byok-cli/tests/node.rs (BYOK_BIN names the binary);
// by hand: BYOK_BIN=target/debug/byok node crates/byok-cli/tests/node/mock_serve.mjs
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";

const bin = process.env.BYOK_BIN ?? "byok";
const key = "sk-proj-" + "Nd4".repeat(50);

const serve = spawn(bin, ["mock", "serve", "--json"], { stdio: ["ignore", "pipe", "inherit"] });
const exited = new Promise((resolve) => serve.on("exit", (code, signal) => resolve({ code, signal })));
const lines = createInterface({ input: serve.stdout });
const served = {};
for await (const line of lines) {
  const s = JSON.parse(line);
  served[s.provider] = s;
  if (Object.keys(served).length === 3) break;
}
assert.deepEqual(Object.keys(served).sort(), ["anthropic", "google", "openai"]);
const { base_url: openai, control_url: control } = served.openai;

const control_api = async (method, path, body) => {
  const r = await fetch(control + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  assert.equal(r.status, 200, `${method} ${path}`);
  return r.json();
};

// A streamed chat completion with usage, read event by event.
const chat = (stream) =>
  fetch(openai + "/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "The quick brown fox jumps over the lazy dog" }],
      max_completion_tokens: 5,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    }),
  });
let r = await chat(true);
assert.equal(r.status, 200);
assert.match(r.headers.get("content-type"), /^text\/event-stream/);
const events = (await r.text())
  .split("\n\n")
  .filter((e) => e.startsWith("data: "))
  .map((e) => e.slice(6));
assert.equal(events.at(-1), "[DONE]");
const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
const usage = chunks.at(-1).usage;
assert.deepEqual([usage.prompt_tokens, usage.completion_tokens], [9, 5]);
const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
assert.equal(text, "This is the mock answer");

// Switch the scenario: the same call is refused the way OpenAI refuses it.
await control_api("PUT", "/providers/openai/scenario", { name: "invalid_key" });
r = await chat(false);
assert.equal(r.status, 401);
assert.equal((await r.json()).error.code, "invalid_api_key");

// What was sent, keys masked.
const sent = await control_api("GET", "/providers/openai/requests");
assert.equal(sent.requests.length, 2);
assert.equal(sent.requests[0].endpoint, "billable");
assert.ok(!JSON.stringify(sent).includes(key.slice(8, 40)), "the key is masked");
assert.ok(sent.requests[0].headers.authorization.startsWith("Bearer "));

// Reset: the starting scenario and no requests.
const reset = await control_api("POST", "/providers/openai/reset");
assert.equal(reset.scenario.name, "valid");
assert.equal(reset.counts.total, 0);

serve.kill("SIGTERM");
const { code } = await exited;
assert.equal(code, 0, "exits cleanly on SIGTERM");
console.log("node: byok mock serve ok");
