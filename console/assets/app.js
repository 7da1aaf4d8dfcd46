// The console page: one view over the console's API. It adds no authority:
// every call carries the token the operator pasted (kept in sessionStorage
// for this tab only, never in a URL, localStorage or a cookie), and every
// piece of server text is rendered with textContent, never as HTML.
"use strict";

const KEY = "openclaw-console-token";
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function token() {
  return sessionStorage.getItem(KEY) || "";
}

function showLogin(reason) {
  sessionStorage.removeItem(KEY);
  $("app").hidden = true;
  $("login").hidden = false;
  const r = $("login-reason");
  r.hidden = !reason;
  r.textContent = reason || "";
  $("who").textContent = "";
  $("token").value = "";
  $("token").focus();
}

class Unauthorized extends Error {}

async function api(method, path, body) {
  const init = { method, headers: { "X-OpenClaw-Token": token() }, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = { ok: false, error: "The console sent something that is not JSON." };
  }
  if (resp.status === 401 || resp.status === 503) {
    const why = resp.status === 503 ? "The console cannot read its own token right now." :
      data && data.reason === "token header missing" ? "A token is needed." : "That token was refused.";
    showLogin(why);
    throw new Unauthorized(why);
  }
  return { status: resp.status, data };
}

function badge(status) {
  const s = String(status || "unknown").toLowerCase();
  return el("span", { class: "badge b-" + s.replace(/[^a-z]/g, ""), text: s });
}

// --- actions -----------------------------------------------------------------

function paramInput(action, p) {
  const id = `p-${action.id}-${p.name}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const label = el("label", { for: id, text: p.name + (p.required ? " (required)" : "") });
  let input;
  let hint = "";
  if (p.type === "enum") {
    input = el("select", { id, name: p.name, required: p.required });
    if (!p.required) input.append(el("option", { value: "", text: "(not set)" }));
    for (const v of p.values) input.append(el("option", { value: v, text: v }));
  } else if (p.type === "int") {
    input = el("input", { id, name: p.name, type: "number", step: "1", min: p.min, max: p.max, required: p.required });
    hint = `an integer from ${p.min} to ${p.max}`;
  } else if (p.type === "bool") {
    input = el("input", { id, name: p.name, type: "checkbox" });
    hint = "on or off";
  } else {
    input = el("input", { id, name: p.name, type: "text", maxlength: p.max_len, required: p.required, spellcheck: "false", autocomplete: "off" });
    hint = `at most ${p.max_len} characters matching ${p.pattern}`;
    input.dataset.pattern = p.pattern;
  }
  input.dataset.kind = p.type;
  const wrap = el("div", {}, label, input);
  if (hint) wrap.append(el("p", { class: "hint", id: id + "-hint", text: hint }));
  if (hint) input.setAttribute("aria-describedby", id + "-hint");
  return wrap;
}

// Reads the form into typed params; returns [params, problem].
function readParams(action, form) {
  const params = {};
  for (const p of action.params) {
    const input = form.elements.namedItem(p.name);
    if (p.type === "bool") {
      params[p.name] = input.checked;
      continue;
    }
    const raw = input.value;
    if (raw === "") {
      if (p.required) return [null, `${p.name} is required.`];
      continue;
    }
    if (p.type === "int") {
      if (!/^-?\d+$/.test(raw)) return [null, `${p.name} must be a whole number.`];
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < p.min || n > p.max) return [null, `${p.name} must be from ${p.min} to ${p.max}.`];
      params[p.name] = n;
    } else if (p.type === "string") {
      if (raw.length > p.max_len) return [null, `${p.name} is longer than ${p.max_len} characters.`];
      let re = null;
      try {
        re = new RegExp(p.pattern, "u");
      } catch (_) {
        re = null; // The server checks it anyway.
      }
      if (re && !re.test(raw)) return [null, `${p.name} must match ${p.pattern}.`];
      params[p.name] = raw;
    } else {
      params[p.name] = raw;
    }
  }
  return [params, null];
}

function renderActions(actions) {
  const box = $("actions");
  box.replaceChildren();
  for (const a of actions) {
    const form = el("form", { class: "action", "data-action": a.id, novalidate: true });
    const mode = [a.concurrent ? "concurrent" : "one at a time", a.long_running ? "long-running" : null, `timeout ${a.timeout_sec} s`]
      .filter(Boolean).join(" · ");
    form.append(el("h3", { text: a.label }), el("p", { class: "hint", text: a.description }), el("p", { class: "hint", text: `${a.id} · ${mode}` }));
    for (const p of a.params) form.append(paramInput(a, p));
    const problem = el("p", { class: "notice", role: "alert", hidden: true });
    const button = el("button", { type: "submit", text: "Run", "aria-label": "Run " + a.label });
    form.append(problem, el("p", {}, button));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const [params, why] = readParams(a, form);
      problem.hidden = !why;
      problem.textContent = why || "";
      if (!why) run(a, params, button);
    });
    box.append(form);
  }
}

// --- results -----------------------------------------------------------------

function resultBox(...children) {
  $("result").replaceChildren(...children);
}

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of pairs) if (v !== undefined && v !== null) dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v)));
  return dl;
}

function doctorTable(stdout) {
  let report;
  try {
    report = JSON.parse(stdout);
  } catch (_) {
    return null;
  }
  if (!report || report.tool !== "openclaw-doctor" || !Array.isArray(report.checks)) return null;
  const table = el("table", { "aria-label": "Doctor checks" });
  table.append(el("thead", {}, el("tr", {}, el("th", { text: "Status" }), el("th", { text: "Check" }), el("th", { text: "Summary" }), el("th", { class: "rem", text: "Remediation" }))));
  const body = el("tbody");
  for (const c of report.checks) {
    body.append(el("tr", { "data-check": c.id, "data-status": c.status },
      el("td", {}, badge(c.status)),
      el("td", {}, el("strong", { text: c.title || c.id }), el("div", { class: "hint", text: c.id })),
      el("td", { text: c.summary || "" }),
      el("td", { class: "rem", text: c.remediation || "" })));
  }
  table.append(body);
  const verdict = el("p", {}, "Verdict: ", badge(report.result === "PASS" ? "pass" : "fail"));
  return el("div", {}, verdict, table);
}

function renderRun(r) {
  const parts = [facts([
    ["Action", r.action],
    ["Status", badge(r.status)],
    ["Exit code", r.exitCode !== undefined ? r.exitCode : r.exit_code],
    ["Duration", (r.durationMs !== undefined ? r.durationMs : r.duration_ms) !== undefined && (r.durationMs ?? r.duration_ms) !== null ? `${r.durationMs ?? r.duration_ms} ms` : null],
    ["Run id", r.run_id],
  ])];
  if (r.truncated) parts.push(el("p", { class: "notice", text: "Output was cut at its cap (2 MiB stdout, 512 KiB stderr); the full run is in its artifact directory." }));
  const table = doctorTable(r.stdout || "");
  if (table) parts.push(table);
  parts.push(el("h3", { text: "stdout" }), el("pre", { class: "stdout", text: r.stdout || "" }));
  if (r.stderr) parts.push(el("h3", { text: "stderr" }), el("pre", { class: "stderr", text: r.stderr }));
  resultBox(...parts);
}

async function poll(runId) {
  for (;;) {
    const { status, data } = await api("GET", "/api/runs/" + encodeURIComponent(runId));
    if (status !== 200) {
      resultBox(el("p", { class: "notice", text: data.error || `HTTP ${status}` }));
      return;
    }
    if (data.status !== "running") {
      renderRun(data);
      return;
    }
    resultBox(facts([["Action", data.action], ["Status", badge("running")], ["Run id", data.run_id], ["Started", data.started_at]]));
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

async function run(action, params, button) {
  button.disabled = true;
  resultBox(facts([["Action", action.id], ["Status", badge("running")]]));
  try {
    const { status, data } = await api("POST", "/api/exec", { action: action.id, params });
    if (status === 409) {
      const link = el("a", { href: "#run-" + data.active_run_id, text: data.active_run_id });
      link.addEventListener("click", (ev) => { ev.preventDefault(); poll(data.active_run_id); });
      resultBox(el("p", { class: "notice", "data-error": "ALREADY_RUNNING" },
        `Already running since ${data.started_at || "an unknown time"} (run `, link, ")."));
    } else if (status === 202) {
      await poll(data.run_id);
    } else if (data && data.run_id && (status === 200 || status === 502)) {
      renderRun(data);
    } else {
      resultBox(el("p", { class: "notice", "data-error": data.error_class || "", text: `${data.error_class || "HTTP " + status}: ${data.error || ""}` }));
    }
    refreshRuns();
  } catch (e) {
    if (!(e instanceof Unauthorized)) resultBox(el("p", { class: "notice", text: "The console could not be reached." }));
  } finally {
    button.disabled = false;
  }
}

async function refreshRuns() {
  const { status, data } = await api("GET", "/api/runs?limit=10");
  const list = $("runs");
  list.replaceChildren();
  if (status !== 200) return;
  for (const r of data.runs) {
    const link = el("a", { href: "#run-" + r.run_id, text: `${r.action} · ${r.started_at}` });
    link.addEventListener("click", (ev) => { ev.preventDefault(); poll(r.run_id); });
    list.append(el("li", {}, badge(r.status), " ", link));
  }
}

async function start() {
  if (!token()) {
    showLogin("");
    return;
  }
  try {
    const { status, data } = await api("GET", "/api/actions");
    if (status !== 200) {
      showLogin(data.error || `HTTP ${status}`);
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("who").textContent = `${data.actions.length} actions`;
    renderActions(data.actions);
    performance.mark("actions-listed");
    await refreshRuns();
  } catch (e) {
    if (!(e instanceof Unauthorized)) showLogin("The console could not be reached.");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(KEY, t);
    $("token").value = "";
    start();
  });
  $("forget").addEventListener("click", () => showLogin("Token forgotten."));
  $("refresh-runs").addEventListener("click", () => refreshRuns().catch(() => {}));
  start();
});
