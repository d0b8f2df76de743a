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
    const metrics = Object.assign({}, ...c.tasks.map((t) => t.metrics || {}));
    const behind = metrics.milliseconds_behind_source;
    body.append(el("tr", { "data-connector": c.name },
      el("td", {}, el("a", { href: connectorHref(c.name) }, c.name)),
      el("td", {}, c.type),
      el("td", {}, badge(c.state), metrics.snapshot_running ? el("span", { class: "muted" }, " snapshot") : ""),
      el("td", {}, `${running}/${c.tasks.length} running`),
      el("td", { class: "num" }, rate(eps)),
      el("td", {}, sparkline(samples)),
      el("td", { class: "num" }, c.type === "source" && behind != null ? `${(behind / 1000).toFixed(1)} s behind`
        : lags.length ? lags.reduce((a, b) => a + b, 0).toLocaleString() : ""),
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
  snapshotView(c.tasks);
  document.getElementById("signal").hidden = c.type !== "source";
  await charts(name, c.type === "source", (info.config || {})["connector.class"] || "");
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

function size(bytes) {
  if (bytes == null) return "—"; // (not known: a partition on Kafka)
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function configText(config) {
  return pairs(config).map(([k, v]) => `${k}=${v}`).join(", ");
}

async function topicsPage() {
  const rows = await api("GET", "/hub/topics");
  const body = document.querySelector("#topics tbody");
  body.replaceChildren();
  for (const t of rows) {
    body.append(el("tr", { "data-topic": t.name },
      el("td", {}, el("a", { href: "/console/topics/" + encodeURIComponent(t.name) }, t.name),
         t.internal ? el("span", { class: "muted" }, " (internal)") : ""),
      el("td", { class: "num" }, String(t.partitions)),
      el("td", { class: "num" }, t.records.toLocaleString()),
      el("td", { class: "num" }, size(t.size_bytes)),
      el("td", { class: "wrap" }, configText(t.config)),
    ));
  }
}

// a record's bytes as the API gives them: text (UTF-8) or base64, maybe cut
function shown(b) {
  if (b == null) return el("span", { class: "muted" }, "null");
  const note = [];
  if (b.encoding !== "utf-8") note.push("base64");
  if (b.truncated) note.push(`first 64 KiB of ${b.size.toLocaleString()} bytes`);
  return el("span", {}, b.text, note.length ? el("span", { class: "muted" }, ` (${note.join(", ")})`) : "");
}

function cell(value) {
  return value === undefined ? "" : JSON.stringify(value);
}

// a Debezium change event (with or without the converter's schema envelope): its before and
// after side by side, the changed columns marked; any other JSON pretty-printed
function valueView(b) {
  if (b == null || b.encoding !== "utf-8" || b.truncated) return shown(b);
  let doc;
  try {
    doc = JSON.parse(b.text);
  } catch (err) {
    return shown(b);
  }
  const env = doc && typeof doc === "object" && doc.payload !== undefined && doc.schema !== undefined ? doc.payload : doc;
  const isEvent = env && typeof env === "object" && "op" in env && ("before" in env || "after" in env);
  if (!isEvent) return el("pre", { class: "value" }, JSON.stringify(env, null, 2));
  const before = env.before || {};
  const after = env.after || {};
  const columns = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const table = el("table", { class: "diff" },
    el("thead", {}, el("tr", {}, el("th", {}, `op ${env.op}`), el("th", {}, "before"), el("th", {}, "after"))));
  const body = el("tbody");
  for (const c of columns) {
    const changed = env.before && env.after && cell(before[c]) !== cell(after[c]);
    body.append(el("tr", {}, el("td", {}, c),
      el("td", { class: changed ? "wrap changed" : "wrap" }, env.before ? cell(before[c]) : ""),
      el("td", { class: changed ? "wrap changed" : "wrap" }, env.after ? cell(after[c]) : "")));
  }
  table.append(body);
  return table;
}

let browsing = null; // the messages form's query, once shown

async function topicPage(name) {
  const path = "/hub/topics/" + encodeURIComponent(name);
  const t = await api("GET", path);
  const parts = document.querySelector("#partitions tbody");
  parts.replaceChildren();
  const select = document.querySelector("#browse select[name=partition]");
  if (select.options.length !== t.partitions.length) {
    select.replaceChildren(...t.partitions.map((p) => el("option", { value: String(p.partition) }, String(p.partition))));
  }
  for (const p of t.partitions) {
    parts.append(el("tr", {}, el("td", {}, String(p.partition)),
      el("td", { class: "num" }, p.start_offset.toLocaleString()),
      el("td", { class: "num" }, p.end_offset.toLocaleString()),
      el("td", { class: "num" }, p.durable_offset.toLocaleString()),
      el("td", { class: "num" }, size(p.size_bytes)), el("td", { class: "num" }, p.segments == null ? "—" : String(p.segments))));
  }
  const config = document.querySelector("#topic-config tbody");
  config.replaceChildren();
  for (const [k, v] of pairs(t.effective_config)) {
    const set = k in (t.config || {});
    config.append(el("tr", {}, el("td", {}, k), el("td", { class: "wrap" }, String(v), set ? "" : el("span", { class: "muted" }, " (default)"))));
  }
  if (browsing === null && !t.internal) await messages(name);
}

async function messages(name) {
  const form = document.getElementById("browse");
  const query = new URLSearchParams();
  query.set("partition", form.partition.value || "0");
  query.set("limit", form.limit.value || "20");
  if (form.offset.value !== "") query.set("offset", form.offset.value);
  else if (form.time.value) query.set("timestamp", String(new Date(form.time.value).getTime()));
  browsing = query.toString();
  const got = await api("GET", `/hub/topics/${encodeURIComponent(name)}/messages?${browsing}`);
  document.getElementById("range").textContent =
    `Partition ${got.partition}: offsets ${got.start_offset}–${got.end_offset - 1}, ${got.records.length} shown`;
  showRecords(got.records);
}

async function searchKey(name) {
  const key = document.querySelector("#search input[name=key]").value;
  if (!key) return;
  const got = await api("GET", `/hub/topics/${encodeURIComponent(name)}/search?key=${encodeURIComponent(key)}`);
  document.getElementById("range").textContent =
    `${got.matches} record(s) with a key containing "${got.key}" among the last ${got.scanned.toLocaleString()} read, newest first`;
  showRecords(got.records);
}

function showRecords(records) {
  const body = document.querySelector("#messages tbody");
  body.replaceChildren();
  for (const r of records) {
    const headers = el("td", { class: "wrap" });
    for (const [k, v] of r.headers) headers.append(el("div", {}, `${k}: `, shown(v)));
    body.append(el("tr", { "data-offset": String(r.offset), "data-partition": String(r.partition) },
      el("td", { class: "num" }, `${r.partition}:${r.offset}`),
      el("td", {}, new Date(r.timestamp).toISOString()),
      el("td", { class: "wrap" }, shown(r.key)),
      el("td", { class: "wrap" }, valueView(r.value)),
      headers));
  }
}

async function groupsPage() {
  const rows = await api("GET", "/hub/groups");
  const body = document.querySelector("#groups tbody");
  body.replaceChildren();
  for (const g of rows) {
    body.append(el("tr", { "data-group": g.group },
      el("td", {}, el("a", { href: "/console/groups/" + encodeURIComponent(g.group) }, g.group)),
      el("td", {}, g.state), el("td", { class: "num" }, String(g.members)),
      el("td", { class: "num" }, String(g.partitions)), el("td", { class: "num" }, g.lag.toLocaleString())));
  }
}

function resetBody(dryRun) {
  const form = document.getElementById("reset");
  const body = { topic: form.topic.value, to: form.to.value, dry_run: dryRun };
  if (form.partition.value !== "") body.partition = Number(form.partition.value);
  if (body.to === "offset") body.value = form.offset.value === "" ? null : Number(form.offset.value);
  if (body.to === "timestamp") body.value = form.time.value ? new Date(form.time.value).getTime() : null;
  return body;
}

let previewed = null; // the inputs of the last preview: Apply sends those or nothing

function sameInputs(a, b) {
  return JSON.stringify({ ...a, dry_run: null }) === JSON.stringify({ ...b, dry_run: null });
}

async function reset(name, dryRun) {
  const path = `/hub/groups/${encodeURIComponent(name)}/reset`;
  const apply = document.getElementById("apply");
  const body = resetBody(dryRun);
  if (!dryRun) {
    if (!previewed || !sameInputs(previewed, body)) {
      apply.disabled = true;
      problem("action", "reset: the inputs changed since the preview; preview again");
      return;
    }
    if (!confirm(`Move the committed offsets of ${name} on ${body.topic} as previewed?`)) return;
  }
  try {
    const got = await api("POST", path, body);
    if (dryRun && !sameInputs(body, resetBody(true))) return; // (changed meanwhile: stale)
    previewed = dryRun ? body : null;
    const plan = document.getElementById("plan");
    plan.querySelector("tbody").replaceChildren(...got.partitions.map((r) => el("tr", {},
      el("td", {}, r.topic), el("td", { class: "num" }, String(r.partition)),
      el("td", { class: "num" }, r.current == null ? "none" : String(r.current)),
      el("td", { class: "num" }, String(r.new)))));
    plan.hidden = false;
    apply.disabled = got.applied; // (a new preview first, after an apply)
    const note = document.getElementById("reset-note");
    note.textContent = got.warning || "";
    note.hidden = !got.warning;
    problem("action", "");
    document.getElementById("plan").dataset.applied = got.applied ? "1" : "0";
  } catch (err) {
    apply.disabled = true;
    problem("action", `reset: ${err.message}`);
  }
  refresh();
}

async function groupPage(name) {
  const g = await api("GET", "/hub/groups/" + encodeURIComponent(name));
  const topics = [...new Set(g.partitions.map((p) => p.topic))].sort();
  const select = document.querySelector("#reset select[name=topic]");
  if (select && select.options.length !== topics.length) {
    select.replaceChildren(...topics.map((t) => el("option", { value: t }, t)));
  }
  const lag = g.partitions.reduce((s, p) => s + (p.lag || 0), 0);
  document.getElementById("summary").textContent = `${g.state}, generation ${g.generation}, ${g.members.length} member(s), lag ${lag.toLocaleString()}`;
  const members = document.querySelector("#members tbody");
  members.replaceChildren();
  for (const m of g.members) {
    members.append(el("tr", {}, el("td", {}, m.member_id), el("td", { class: "wrap" }, m.topics.join(", ")),
      el("td", { class: "wrap" }, m.assignment.map((tp) => Array.isArray(tp) ? `${tp[0]}[${tp[1]}]` : `${tp.topic}[${tp.partition}]`).join(", "))));
  }
  const lags = document.querySelector("#lags tbody");
  lags.replaceChildren();
  for (const p of g.partitions) {
    lags.append(el("tr", {}, el("td", {}, p.topic), el("td", { class: "num" }, String(p.partition)),
      el("td", { class: "num" }, p.committed == null ? "" : p.committed.toLocaleString()),
      el("td", { class: "num" }, p.end_offset.toLocaleString()),
      el("td", { class: "num" }, p.lag == null ? "" : p.lag.toLocaleString()), el("td", {}, p.owner || "")));
  }
}

// a snapshot's tables from the tasks' gauges: rows done of estimated, an ETA from the rate
// between two refreshes
const DONE = "snapshot_rows_done:";
const ESTIMATED = "snapshot_rows_estimated:";
const snapshotRates = new Map();

function snapshotView(tasks) {
  const metrics = {};
  for (const t of tasks) Object.assign(metrics, t.metrics || {});
  const section = document.getElementById("snapshot");
  const body = document.querySelector("#snapshot-tables tbody");
  body.replaceChildren();
  const now = Date.now();
  for (const [key, done] of Object.entries(metrics)) {
    if (!key.startsWith(DONE)) continue;
    const table = key.slice(DONE.length);
    const estimated = Math.max(metrics[ESTIMATED + table] || 0, done);
    const last = snapshotRates.get(table);
    let rate = last ? last.rate : 0;
    if (last && now > last.t && done > last.done) {
      const r = ((done - last.done) * 1000) / (now - last.t);
      rate = rate ? 0.5 * rate + 0.5 * r : r;
    }
    snapshotRates.set(table, { t: now, done, rate });
    let eta = "";
    if (estimated && done >= estimated) eta = "done";
    else if (rate > 0) eta = `${Math.ceil((estimated - done) / rate)} s`;
    const bar = el("progress", { max: String(estimated || 1), value: String(done) });
    body.append(el("tr", { "data-table": table }, el("td", {}, table), el("td", {}, bar),
      el("td", { class: "num" }, `${done.toLocaleString()} / ~${estimated.toLocaleString()}`),
      el("td", {}, eta)));
  }
  section.hidden = body.children.length === 0;
}

// a line chart of the last hour's samples (an SVG polyline; no chart library)
function chart(id, samples, field, label) {
  const points = samples.filter((s) => s[field] != null);
  const max = Math.max(1, ...points.map((s) => s[field]));
  document.getElementById(id + "-max").textContent = points.length
    ? `max ${label(max)}, now ${label(points[points.length - 1][field])}` : "no samples yet";
  lines(id, points, [[field, null]], max);
}

// one polyline per [field, class] over the samples, on a common scale up to max
function lines(id, points, series, max) {
  const svg = document.getElementById(id);
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  if (points.length < 2) return;
  const t0 = points[0].t;
  const span = Math.max(1, points[points.length - 1].t - t0);
  for (const [field, cls] of series) {
    const line = document.createElementNS(ns, "polyline");
    if (cls) line.setAttribute("class", cls);
    line.setAttribute("points", points.map((s) =>
      `${((400 * (s.t - t0)) / span).toFixed(1)},${(98 - (96 * (s[field] || 0)) / max).toFixed(1)}`).join(" "));
    svg.append(line);
  }
}

const OPS = [["c", "create"], ["u", "update"], ["d", "delete"], ["r", "read"], ["t", "truncate"]];

// a source's events/s by operation (the ops its tasks counted); hidden for other connectors
function opsChart(samples) {
  const figure = document.getElementById("chart-ops-figure");
  const points = samples.filter((s) => s.ops != null).map((s) => ({ t: s.t, ...s.ops }));
  figure.hidden = points.length === 0;
  if (!points.length) return;
  const seen = OPS.filter(([op]) => points.some((p) => p[op] > 0));
  const shown = seen.length ? seen : OPS.slice(0, 3);
  const max = Math.max(1, ...points.flatMap((p) => shown.map(([op]) => p[op] || 0)));
  const now = points[points.length - 1];
  const legend = document.getElementById("chart-ops-max");
  legend.replaceChildren(...shown.map(([op, word]) =>
    el("span", { class: `legend op-${op}`, "data-op": op }, `${word} ${rate(now[op] || 0)}`)));
  lines("chart-ops", points, shown.map(([op]) => [op, `op-${op}`]), max);
}

async function charts(name, source, connectorClass) {
  const got = await api("GET", `/hub/connectors/${encodeURIComponent(name)}/history`);
  chart("chart-rate", got.samples, "records_per_second", rate);
  opsChart(got.samples);
  const count = (x) => Math.round(x).toLocaleString();
  const third = document.getElementById("chart-third-title");
  const fourth = document.getElementById("chart-fourth-title");
  if (source) {
    document.getElementById("chart-lag-title").textContent = "Behind the source (s)";
    chart("chart-lag", got.samples.map((s) => ({ ...s, behind: s.behind_ms == null ? null : s.behind_ms / 1000 })), "behind", (x) => x.toFixed(1));
    // PostgreSQL: the WAL its slot keeps on the server; MySQL/MariaDB (no slot): the binlog
    // it has still to read
    const slot = /postgres/i.test(connectorClass);
    third.textContent = slot ? "WAL kept by the slot" : "Binlog to read";
    chart("chart-third", got.samples, slot ? "retained_bytes" : "unread_bytes", size);
    fourth.textContent = "Records per poll";
    chart("chart-fourth", got.samples, "batch_size", count);
  } else {
    document.getElementById("chart-lag-title").textContent = "Lag (records)";
    chart("chart-lag", got.samples, "lag", count);
    third.textContent = "Batch size (records)";
    chart("chart-third", got.samples, "batch_size", count);
    fourth.textContent = "Batch write time (ms)";
    chart("chart-fourth", got.samples, "apply_ms", (x) => x.toFixed(1));
  }
}

async function healthPage() {
  const h = await api("GET", "/hub/health");
  const rows = [["Version", h.version], ["Worker", h.worker_id], ["Up for", `${Math.round(h.uptime_s)} s`],
    ["Log", h.backend]];
  if (h.data_dir) {
    rows.push(["Data directory", h.data_dir], ["Its size", size(h.data_bytes)],
      ["Free disk", `${size(h.disk_free_bytes)} of ${size(h.disk_total_bytes)}`]);
  }
  const body = document.querySelector("#worker tbody");
  body.replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { class: "wrap" }, v))));
  const jobs = document.querySelector("#jobs tbody");
  jobs.replaceChildren(...h.jobs.map((j) => el("tr", { "data-job": j.name }, el("td", {}, j.name),
    el("td", { class: "num" }, String(j.interval_ms / 1000)),
    el("td", {}, j.last_run ? new Date(j.last_run).toLocaleTimeString() : "not yet"),
    el("td", { class: "num" }, j.last_duration_ms == null ? "" : (j.last_duration_ms / 1000).toFixed(3)),
    el("td", { class: "num" }, String(j.runs)), el("td", { class: "num" }, String(j.failures)),
    el("td", { class: "wrap" }, firstLine(j.last_error)))));
}

// the new-connector form: fields from the plugin's definitions (validate with the values so
// far), errors per field, and the YAML to keep in configs/
const form = { plugin: null, values: {}, timer: null, seq: 0, ok: false, secrets: new Set(), rebuild: false, built: null };

function yamlScalar(v) {
  // plain only where YAML reads back the same string: a name that starts with a letter and
  // holds no ':', '#', '@' or space, and is no word YAML reads as a boolean or null; else
  // quoted (2024 was read as a number, 0123 as 83, 12:30 as 750, and @x or x: broke the file)
  const text = String(v);
  return /^[A-Za-z_][A-Za-z0-9_./-]*$/.test(text) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(text)
    ? text : JSON.stringify(text);
}

// hub.config.is_secret's names: their values stay out of the YAML (a reference instead)
const SECRET = /(password|passwd|secret|token|credentials|private\.key|api\.key)$|^sasl\.jaas/i;

function secretProp(name) {
  return SECRET.test(name) || form.secrets.has(name);
}

function yamlOf(name, plugin, values) {
  const lines = [`name: ${yamlScalar(name || "my-connector")}`, "config:", `  connector.class: ${yamlScalar(plugin)}`];
  for (const [k, v] of pairs(values)) {
    if (v === "" || k === "connector.class") continue;
    if (secretProp(k)) {
      const env = "HUB_" + k.toUpperCase().replace(/[^A-Z0-9]/g, "_");
      lines.push(`  ${k}: \${env:${env}}   # the secret from the environment, not from this file`);
    } else {
      lines.push(`  ${k}: ${yamlScalar(v)}`);
    }
  }
  return lines.join("\n") + "\n";
}

function field(def, value, errors) {
  const input = el("input", { name: def.name, "data-field": def.name, placeholder: def.default_value == null ? "" : def.default_value });
  if (def.type === "PASSWORD" || SECRET.test(def.name)) input.setAttribute("type", "password");
  input.value = value == null ? "" : value;
  input.addEventListener("input", () => {
    if (input.value === "") delete form.values[def.name];
    else form.values[def.name] = input.value;
    schedule();
  });
  const label = el("label", { class: "field" }, el("span", {}, def.name, def.required ? " *" : ""), input);
  const doc = el("small", { class: "muted" }, def.documentation || "",
    def.default_value != null ? ` (default ${def.default_value})` : "");
  const problems = el("small", { class: "error", "data-errors": def.name }, errors.join("; "));
  return el("div", { class: "def" }, label, doc, problems);
}

async function validateForm(rebuild) {
  const seq = ++form.seq;
  const name = document.querySelector("#new input[name=name]").value;
  const body = { ...form.values, name: name || "my-connector", "connector.class": form.plugin };
  const got = await api("PUT", `/connector-plugins/${encodeURIComponent(form.plugin)}/config/validate`, body);
  if (seq !== form.seq) return; // (a later check answers)
  form.secrets = new Set(got.configs.filter((c) => c.definition.type === "PASSWORD").map((c) => c.definition.name));
  const byGroup = new Map();
  for (const c of got.configs) {
    const group = c.definition.group || "Unknown";
    if (!byGroup.has(group)) byGroup.set(group, []);
    byGroup.get(group).push(c);
  }
  const box = document.getElementById("fields");
  if (rebuild || form.built !== form.plugin) { // (the fields on screen are another plugin's)
    form.built = form.plugin;
    box.replaceChildren();
    for (const group of [...got.groups, "Unknown"]) {
      const items = (byGroup.get(group) || []).filter((c) => c.definition.name !== "connector.class" && c.definition.type);
      if (!items.length) continue;
      box.append(el("h2", {}, group === "Common" ? "Runtime" : group),
        ...items.map((c) => field(c.definition, form.values[c.definition.name], c.value.errors)));
    }
  } else {
    for (const c of got.configs) {
      const spot = box.querySelector(`[data-errors="${CSS.escape(c.definition.name)}"]`);
      if (spot) spot.textContent = c.value.errors.join("; ");
    }
  }
  const others = got.configs.filter((c) => !c.definition.type).flatMap((c) => c.value.errors);
  form.ok = got.error_count === 0 && /^[A-Za-z0-9._-]+$/.test(name);
  document.getElementById("verdict").textContent = got.error_count
    ? `${got.error_count} problem(s)${others.length ? ": " + others.join("; ") : ""}`
    : name ? "Valid." : "Valid; give it a name.";
  document.getElementById("create").disabled = !form.ok;
  document.getElementById("preview-tables").hidden = !(form.ok && form.source);
  document.getElementById("yaml").textContent = yamlOf(name, form.plugin, form.values);
}

function schedule(rebuild) {
  clearTimeout(form.timer);
  form.rebuild = form.rebuild || rebuild; // (a typed value must not cancel a pending rebuild)
  form.timer = setTimeout(() => {
    const again = form.rebuild;
    form.rebuild = false;
    validateForm(again).catch((err) => problem("load", err.message));
  }, form.rebuild ? 0 : 300);
}

async function newPage() {
  const select = document.querySelector("#new select[name=plugin]");
  if (select.options.length) return; // (built once: the form keeps what was typed)
  const plugins = await api("GET", "/connector-plugins");
  // (a name two plugins share, "file" of FileStreamSource and FileStreamSink, by its class:
  // as one value the sink's option showed the source's form)
  const named = new Map();
  for (const p of plugins) named.set(p.name, (named.get(p.name) || 0) + 1);
  const key = (p) => (p.name && named.get(p.name) === 1 ? p.name : p.class.split(".").pop());
  select.replaceChildren(...plugins.map((p) => el("option", { value: key(p) }, `${key(p)} (${p.type})`)));
  const types = new Map(plugins.map((p) => [key(p), p.type]));
  const choose = () => {
    form.plugin = select.value;
    form.source = types.get(select.value) === "source";
    document.getElementById("tables").hidden = true;
    form.values = {};
    schedule(true);
  };
  select.addEventListener("change", choose);
  document.querySelector("#new input[name=name]").addEventListener("input", () => schedule(false));
  document.getElementById("preview-tables").addEventListener("click", async () => {
    const name = document.querySelector("#new input[name=name]").value;
    const box = document.getElementById("tables");
    try {
      const got = await api("PUT", `/hub/connector-plugins/${encodeURIComponent(form.plugin)}/tables`,
        { ...form.values, name, "connector.class": form.plugin });
      box.querySelector("tbody").replaceChildren(...got.tables.map((t) => el("tr", { "data-table": `${t.schema}.${t.table}` },
        el("td", {}, `${t.schema}.${t.table}`), el("td", {}, t.topic), el("td", {}, t.key.join(", ")))));
      box.hidden = false;
      problem("action", got.tables.length ? "" : "preview: no table matches the include/exclude lists");
    } catch (err) {
      box.hidden = true;
      problem("action", `preview: ${err.message}`);
    }
  });
  document.getElementById("create").addEventListener("click", async () => {
    const name = document.querySelector("#new input[name=name]").value;
    try {
      await api("POST", "/connectors", { name, config: { ...form.values, "connector.class": form.plugin } });
      location.assign(connectorHref(name));
    } catch (err) {
      problem("action", `create: ${err.message}`);
    }
  });
  choose();
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
      const done = await api("DELETE", path + "/offsets");
      if (done && done.warning) {
        problem("action", `offsets reset; note: ${done.warning}`);
        refresh();
        return;
      }
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
  if (!(page in PAGES)) return;
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  clearTimeout(timer);
  try {
    await PAGES[page](document.body.dataset.name);
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

const PAGES = {
  overview: overview, connector: connectorPage, topics: topicsPage, topic: topicPage,
  groups: groupsPage, group: groupPage, health: healthPage, new: newPage,
};

// a form of the page (if it has one) whose submit runs ``fn(form)``; its error shown
function onSubmit(id, label, fn) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await fn(form);
      problem("action", "");
    } catch (err) {
      problem("action", `${label}: ${err.message}`);
    }
  });
}

async function askSnapshot(form) {
  const name = document.body.dataset.name;
  const tables = form.tables.value.split(",").map((t) => t.trim()).filter(Boolean);
  if (!tables.length) return;
  const got = await api("POST", `/hub/connectors/${encodeURIComponent(name)}/signals`,
    { type: "execute-snapshot", data: { "data-collections": tables, type: form.kind.value } });
  document.getElementById("signal-sent").textContent = `signal ${got.id} sent`;
}

document.addEventListener("DOMContentLoaded", () => {
  onSubmit("signal", "snapshot", askSnapshot);
  onSubmit("search", "search", () => searchKey(document.body.dataset.name));
  onSubmit("browse", "messages", () => messages(document.body.dataset.name));
  const resetForm = document.getElementById("reset");
  if (resetForm) {
    resetForm.addEventListener("submit", (event) => {
      event.preventDefault();
      reset(document.body.dataset.name, true);
    });
    resetForm.addEventListener("change", () => { document.getElementById("apply").disabled = true; });
    document.getElementById("apply").addEventListener("click", () => reset(document.body.dataset.name, false));
  }
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => act(document.body.dataset.name, button.dataset.action));
  }
  refresh();
});
