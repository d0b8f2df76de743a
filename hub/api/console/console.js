// hub's console: reads the worker's REST endpoints and renders them with DOM text nodes only
// (names, values and traces are user data: never parsed as HTML).
"use strict";

const HEADERS = { "Accept": "application/json", "X-Hub-Console": "1" };
const REFRESH_MS = 2000;
const HISTORY = 30; // samples kept per connector for its sparkline (a minute at 2 s)

async function api(method, path, body) {
  const init = { method, headers: { ...HEADERS }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    location.assign("/console/login");
    throw new Error("sign in first");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (err) {
    // not JSON: a proxy's error page, say
    if (res.ok) throw new Error(`unreadable answer from ${path}`);
  }
  if (!res.ok) throw new Error((data && data.message) || `${res.status} ${res.statusText}`);
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  }
  return node;
}

function badge(state) {
  return el("span", { class: `state state-${state}`, "data-state": state }, state);
}

// what went wrong: an action's error stays until the next action; a refresh's until the
// next refresh that works
const problems = { action: "", load: "" };

function problem(kind, message) {
  problems[kind] = message || "";
  const box = document.getElementById("problem");
  const shown = problems.action || problems.load;
  box.textContent = shown;
  box.hidden = !shown;
}

function firstLine(text) {
  return text ? String(text).split("\n")[0].slice(0, 200) : "";
}

function rate(x) {
  return x >= 100 ? Math.round(x).toLocaleString() : (Math.round(x * 10) / 10).toString();
}

function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 24");
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 120 / (HISTORY - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(23 - (v / max) * 22).toFixed(1)}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}

function connectorHref(name) {
  return "/console/connectors/" + encodeURIComponent(name);
}

const history = new Map();

async function overview() {
  const rows = await api("GET", "/hub/connectors");
  const body = document.querySelector("#connectors tbody");
  body.replaceChildren();
  for (const c of rows) {
    const running = c.tasks.filter((t) => t.state === "RUNNING").length;
    const eps = c.tasks.reduce((s, t) => s + (t.records_per_second || 0), 0);
    const lags = c.tasks.map((t) => t.lag).filter((x) => x != null);
    const errors = [c.error, ...c.tasks.map((t) => t.error)].filter(Boolean);
    const samples = history.get(c.name) || [];
    samples.push(eps);
    while (samples.length > HISTORY) samples.shift();
    history.set(c.name, samples);
    body.append(el("tr", { "data-connector": c.name },
      el("td", {}, el("a", { href: connectorHref(c.name) }, c.name)),
      el("td", {}, c.type),
      el("td", {}, badge(c.state)),
      el("td", {}, `${running}/${c.tasks.length} running`),
      el("td", { class: "num" }, rate(eps)),
      el("td", {}, sparkline(samples)),
      el("td", { class: "num" }, lags.length ? lags.reduce((a, b) => a + b, 0).toLocaleString() : ""),
      el("td", { class: "wrap" }, firstLine(errors[0])),
    ));
  }
  document.getElementById("empty").hidden = rows.length > 0;
  document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

function pairs(obj) {
  return Object.entries(obj || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function connectorPage(name) {
  const path = "/connectors/" + encodeURIComponent(name);
  const [all, info, offsets] = await Promise.all([
    api("GET", "/hub/connectors"), api("GET", path), api("GET", path + "/offsets"),
  ]);
  const c = all.find((x) => x.name === name);
  if (!c) {
    gone = true;
    throw new Error(`connector ${name} is gone`);
  }
  const state = document.getElementById("state");
  state.replaceChildren(badge(c.state));
  document.getElementById("type").textContent = c.type;
  document.getElementById("class").textContent = (info.config || {})["connector.class"] || "";
  for (const button of document.querySelectorAll("button[data-action]")) {
    const action = button.dataset.action;
    button.disabled =
      (action === "pause" && c.state !== "RUNNING") ||
      (action === "resume" && c.state === "RUNNING") ||
      (action === "stop" && c.state === "STOPPED") ||
      (action === "restart" && c.state === "STOPPED") ||
      (action === "reset-offsets" && c.state !== "STOPPED");
  }
  const tasks = document.querySelector("#tasks tbody");
  tasks.replaceChildren();
  const traces = document.getElementById("traces");
  traces.replaceChildren();
  for (const t of c.tasks) {
    const restart = el("button", { "data-task": String(t.id) }, "Restart");
    restart.addEventListener("click", () => act(name, "restart-task", t.id));
    tasks.append(el("tr", { "data-task": String(t.id) },
      el("td", {}, String(t.id)), el("td", {}, badge(t.state)),
      el("td", { class: "num" }, (t.records || 0).toLocaleString()),
      el("td", { class: "num" }, rate(t.records_per_second || 0)),
      el("td", { class: "num" }, t.lag == null ? "" : t.lag.toLocaleString()),
      el("td", { class: "num" }, String(t.errors || 0)),
      el("td", { class: "wrap" }, firstLine(t.error)),
      el("td", {}, restart),
    ));
    if (t.trace) traces.append(el("h3", {}, `Task ${t.id} trace`), el("pre", { class: "trace" }, t.trace));
  }
  if (c.trace) traces.append(el("h3", {}, "Connector trace"), el("pre", { class: "trace" }, c.trace));
  const offs = document.querySelector("#offsets tbody");
  offs.replaceChildren();
  for (const o of offsets.offsets || []) {
    offs.append(el("tr", {}, el("td", { class: "wrap" }, JSON.stringify(o.partition)),
                              el("td", { class: "wrap" }, JSON.stringify(o.offset))));
  }
  const config = document.querySelector("#config tbody");
  config.replaceChildren();
  for (const [k, v] of pairs(info.config)) {
    config.append(el("tr", {}, el("td", {}, k), el("td", { class: "wrap" }, v)));
  }
}

async function act(name, action, task) {
  const path = "/connectors/" + encodeURIComponent(name);
  try {
    if (action === "pause") await api("PUT", path + "/pause");
    else if (action === "resume") await api("PUT", path + "/resume");
    else if (action === "stop") await api("PUT", path + "/stop");
    else if (action === "restart") await api("POST", path + "/restart?includeTasks=true");
    else if (action === "restart-task") await api("POST", `${path}/tasks/${task}/restart`);
    else if (action === "reset-offsets") {
      const now = await api("GET", path + "/offsets");
      const lines = (now.offsets || []).map((o) => `${JSON.stringify(o.partition)}: ${JSON.stringify(o.offset)}`);
      const shown = lines.length ? lines.join("\n") : "(none stored)";
      if (!confirm(`Reset every offset of ${name}? It starts from scratch when resumed.\n\nNow:\n${shown}`)) return;
      await api("DELETE", path + "/offsets");
    } else if (action === "delete") {
      if (!confirm(`Delete connector ${name}? Its tasks stop; topics and targets stay.`)) return;
      await api("DELETE", path);
      location.assign("/console/");
      return;
    }
    problem("action", "");
  } catch (err) {
    problem("action", `${action}: ${err.message}`);
  }
  refresh();
}

// one refresh at a time: one asked for while another runs follows it (no second loop)
let timer = null;
let busy = false;
let again = false;
let gone = false; // the connector of this page was deleted: stop asking

async function refresh() {
  const page = document.body.dataset.page;
  if (page !== "overview" && page !== "connector") return;
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  clearTimeout(timer);
  try {
    if (page === "overview") await overview();
    else await connectorPage(document.body.dataset.name);
    problem("load", "");
  } catch (err) {
    problem("load", err.message);
  } finally {
    busy = false;
  }
  if (again) {
    again = false;
    refresh();
  } else if (!gone) {
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => act(document.body.dataset.name, button.dataset.action));
  }
  refresh();
});
