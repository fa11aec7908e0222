// The plant dashboard: lines and machine tiles live over SignalR (/hubs/twins), a machine page
// with live sensor charts (longer ranges from the stored history), open tickets, purchase
// requests with their actions, the latest dead letters, quality (SPC charts and the Pareto of
// defects, in quality.js) and the genealogy of a work order (genealogy.js).
//
// Twin data is shown as text only: every element is built with createElement and filled through
// textContent (the `h` helper), never by parsing markup. The gateway's Content-Security-Policy
// refuses inline script on top of that.
import * as signalR from "@microsoft/signalr";
import uPlot from "uplot";
import { initQuality } from "./quality.js";
import { initGenealogy } from "./genealogy.js";
import { initEffects } from "./effects.js";

const $ = (id) => document.getElementById(id);

/** An element: h("td", { className: "x", dataset: { id } }, "text", child, …); strings become text nodes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "className" || key === "id" || key === "title" || key === "value" || key === "hidden") el[key] = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else throw new Error(`h: unsupported property ${key}`);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return el;
}

/** Replaces an element's children (text or elements). */
const fill = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c != null && c !== false).map((c) => (c instanceof Node ? c : String(c))));

// With authentication on, a bearer token given once as ?token=… (or #token=…) is kept for this tab
// and removed from the address bar at once, so it does not stay in history, bookmarks or screenshots.
const token = (() => {
  const search = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const given = search.get("token") ?? hash.get("token");
  if (given) {
    sessionStorage.setItem("twin-token", given);
    search.delete("token");
    hash.delete("token");
    const rest = `${search.size ? `?${search}` : ""}${hash.size ? `#${hash}` : ""}`;
    history.replaceState(null, "", location.pathname + rest);
  }
  return sessionStorage.getItem("twin-token");
})();
const withToken = (init = {}) => (token ? { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } } : init);
const api = (path, init) => fetch(`/api/factories/${encodeURIComponent(factory())}${path}`, withToken(init)).then((r) => (r.ok ? r.json() : Promise.reject(r)));
const factory = () => $("factory").value.trim() || "demo";
const effects = initEffects({ api: (path, init) => api(path, init), h: (...a) => h(...a), fill: (...a) => fill(...a), factory: () => factory() });
const quality = initQuality({ api: (path, init) => api(path, init), h: (...a) => h(...a), fill: (...a) => fill(...a), factory: () => factory() });
const genealogy = initGenealogy({ api: (path, init) => api(path, init), h: (...a) => h(...a), fill: (...a) => fill(...a), factory: () => factory() });
const keyValues = ["temperature", "vibration", "pressure", "spindle_speed", "power"];
const tiles = new Map(); // topic → { el, version }
const lineHeaders = new Map(); // line topic → h2
const linePanels = new Map(); // line id → element showing OEE and bottleneck
let selected = null; // { id, topic, chart, data, sensors, range }
let scheduleTopic = null; // the factory's schedule topic while subscribed
let scheduleVersion = -1;
// Chart ranges of the machine page: live from the hub, or the stored history in buckets of `step`.
const ranges = {
  live: { label: "live" },
  "1h": { label: "1 h", span: 3600, step: "1m" },
  "24h": { label: "24 h", span: 86400, step: "15m" },
  "7d": { label: "7 d", span: 7 * 86400, step: "1h" },
};

const connection = new signalR.HubConnectionBuilder()
  .withUrl("/hubs/twins", token ? { accessTokenFactory: () => token } : {})
  .withAutomaticReconnect()
  // The client's information messages name the WebSocket URL, and with it the access token.
  .configureLogging(signalR.LogLevel.Warning)
  .build();
connection.on("twinChanged", (change) => apply(change));
connection.onreconnected(() => resubscribe());
connection.onreconnecting(() => setConnection(false));

function setConnection(live) {
  $("connection").textContent = live ? "live" : "reconnecting…";
  $("connection").classList.toggle("live", live);
}

function fmt(v) {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function apply(change) {
  if (change.schedule) {
    if (change.topic === `schedule:${factory()}` && change.version >= scheduleVersion) {
      scheduleVersion = change.version;
      renderSchedule(change.schedule);
    }
    return;
  }
  if (change.line) {
    const header = lineHeaders.get(change.topic);
    const l = change.line;
    if (header) fill(header, l.name ?? l.id, " ", h("small", {}, `(${l.id}) · ${l.status} · ${fmt(l.throughput)} parts/min · ${l.good} good`));
    return;
  }
  const tile = tiles.get(change.topic);
  if (!tile || change.version <= tile.version) return; // older or repeated: keep the newer
  tile.version = change.version;
  render(tile.el, change.machine);
  if (selected && selected.topic === change.topic) renderDetail(change.machine);
}

function render(el, m) {
  const faults = m.activeFaults ?? [];
  el.className = `tile ${m.status}${faults.length ? " alarm" : ""}`;
  el.dataset.status = m.status;
  el.dataset.version = m.version;
  const values = m.sensors
    .filter((s) => keyValues.includes(s.sensor) || m.sensors.length <= 4)
    .slice(0, 4)
    .flatMap((s) => [h("br"), `${s.sensor} `, h("b", {}, fmt(s.value)), ` ${s.unit ?? ""}`]);
  fill(
    el,
    h("h3", {}, h("span", { title: m.name ?? null }, m.name ? `${m.name} (${m.id})` : m.id),
      faults.length ? h("span", { className: "badge", title: faults.map((f) => `${f.kind} on ${f.sensor}`).join(", ") }, String(faults.length)) : null),
    h("div", { className: "values" }, `${m.status} · ${m.counts.good} good`, values),
  );
}

// Each overview load has a number; one that a later load (another factory chosen meanwhile)
// overtook stops at its next step instead of mixing two factories on the page.
let overviewLoad = 0;
// The factory the page shows (or is loading). The browser fires "change" again when the field
// loses focus, e.g. on the press that clicks a machine tile; the same factory is not reloaded
// then, or the tile under the pointer would be replaced between press and release.
let shownFactory = null;

async function loadOverview() {
  const load = ++overviewLoad;
  shownFactory = factory();
  const current = () => load === overviewLoad;
  for (const topic of [...tiles.keys(), ...lineHeaders.keys()]) await connection.invoke("Unsubscribe", topic).catch(() => {});
  if (!current()) return;
  tiles.clear();
  lineHeaders.clear();
  linePanels.clear();
  const overview = $("overview");
  overview.replaceChildren();
  const [lines, machines] = await Promise.all([api("/lines"), api("/machines?limit=1000")]);
  if (!current()) return;
  const grouped = new Map(lines.items.map((l) => [l.id, { name: l.name ?? l.id, ids: l.machines.map((m) => m.id) }]));
  const assigned = new Set([...grouped.values()].flatMap((g) => g.ids));
  const others = machines.items.map((m) => m.id).filter((id) => !assigned.has(id));
  if (others.length) grouped.set("", { name: "Not on a line", ids: others });
  for (const [lineId, group] of grouped) {
    const header = h("h2", {}, group.name, lineId ? [" ", h("small", {}, `(${lineId})`)] : null);
    const perf = h("div", { className: "perf" });
    const tilesEl = h("div", { className: "tiles" });
    const section = h("div", { className: "line" }, header, perf, tilesEl);
    overview.append(section);
    if (lineId) {
      linePanels.set(lineId, perf);
      const topic = `line:${factory()}/${lineId}`;
      lineHeaders.set(topic, header);
      const snapshot = await connection.invoke("Subscribe", topic);
      if (!current()) return;
      apply(snapshot);
    }
    for (const id of group.ids) {
      const el = h("div", { className: "tile unknown", id: `tile-${id}`, onclick: () => select(id) });
      tilesEl.append(el);
      const topic = `machine:${factory()}/${id}`;
      tiles.set(topic, { el, version: -1 });
      const snapshot = await connection.invoke("Subscribe", topic);
      if (!current()) return;
      apply(snapshot);
    }
  }
}

async function resubscribe() {
  setConnection(true);
  if (scheduleTopic) {
    scheduleVersion = -1;
    apply(await connection.invoke("Subscribe", scheduleTopic));
  }
  // Versions missed while away: subscribing again returns the current snapshot.
  for (const [topic, tile] of tiles) {
    tile.version = -1;
    apply(await connection.invoke("Subscribe", topic));
  }
  for (const topic of lineHeaders.keys()) apply(await connection.invoke("Subscribe", topic));
}

// The schedule: a Gantt chart per line (a row per machine, a bar per operation, late orders
// highlighted) and each order's projected completion, live on the factory's schedule topic.
async function loadSchedule() {
  if (scheduleTopic) await connection.invoke("Unsubscribe", scheduleTopic).catch(() => {});
  scheduleTopic = `schedule:${factory()}`;
  scheduleVersion = -1;
  apply(await connection.invoke("Subscribe", scheduleTopic));
}

const clock = (iso) => new Date(iso).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });

function minutes(span) {
  // TimeSpan as JSON: "[-][d.]hh:mm:ss[.fffffff]".
  const m = /^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(span ?? "");
  if (!m) return null;
  const total = (+(m[2] ?? 0) * 1440) + (+m[3] * 60) + +m[4] + (+m[5] / 60);
  return m[1] ? -total : total;
}

function renderSchedule(plan) {
  const late = new Set(plan.orders.filter((o) => o.late).map((o) => o.workOrder));
  const section = $("schedule");
  section.dataset.version = plan.version;
  const last = plan.last;
  fill(
    $("schedule-summary"),
    plan.plannedAt ? `plan ${plan.version} of ${clock(plan.plannedAt)}` : "no plan yet",
    plan.onTimeRate != null ? ` · on time ${Math.round(plan.onTimeRate * 100)} %` : "",
    plan.stability != null ? ` · stability ${Math.round(plan.stability * 100)} %` : "",
    last ? h("small", {}, ` · last re-plan after: ${last.triggers.slice(-1)[0] ?? "—"} (${last.method}, ${last.moved} moved)`) : null,
    plan.replanning ? h("small", {}, " · re-planning…") : null,
  );

  const ops = plan.operations;
  const gantt = $("gantt");
  if (!ops.length) {
    fill(gantt, h("p", {}, "Nothing planned."));
  } else {
    const from = Math.min(...ops.map((o) => Date.parse(o.start)));
    const to = Math.max(...ops.map((o) => Date.parse(o.end)));
    const span = Math.max(1, to - from);
    const byLine = new Map();
    for (const op of ops) {
      const line = op.line ?? "(no line)";
      if (!byLine.has(line)) byLine.set(line, new Map());
      const machines = byLine.get(line);
      if (!machines.has(op.machine)) machines.set(op.machine, []);
      machines.get(op.machine).push(op);
    }
    fill(
      gantt,
      [...byLine.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([line, machines]) =>
        h("div", { className: "gantt-line", dataset: { line } },
          h("h3", {}, line, h("small", {}, ` ${clock(new Date(from).toISOString())} – ${clock(new Date(to).toISOString())}`)),
          [...machines.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([machine, list]) => {
            const track = h("div", { className: "track" });
            for (const op of list) {
              const bar = h("div", {
                className: `bar${late.has(op.workOrder) ? " late" : ""}`,
                dataset: { order: op.workOrder, operation: op.operation },
                title: `${op.workOrder} · operation ${op.operation} (${op.product}) on ${machine}: ${clock(op.start)} – ${clock(op.end)}${late.has(op.workOrder) ? " · LATE" : ""}`,
              }, op.workOrder);
              // Positions through the CSSOM (allowed by the CSP, unlike style attributes).
              bar.style.left = `${((Date.parse(op.start) - from) / span) * 100}%`;
              bar.style.width = `${Math.max(0.3, ((Date.parse(op.end) - Date.parse(op.start)) / span) * 100)}%`;
              track.append(bar);
            }
            return h("div", { className: "gantt-row", dataset: { machine } }, h("span", { className: "machine" }, machine), track);
          }))),
    );
  }

  fill(
    $("promises"),
    h("tr", {}, h("th", {}, "order"), h("th", {}, "product"), h("th", {}, "due"), h("th", {}, "projected"), h("th", {}, "lateness")),
    plan.orders.map((o) => {
      const lateBy = minutes(o.lateness);
      return h("tr", { className: o.late ? "late" : null, dataset: { order: o.workOrder } },
        h("td", {}, o.workOrder), h("td", {}, o.product), h("td", {}, o.due ? clock(o.due) : "—"), h("td", {}, clock(o.projectedCompletion)),
        h("td", {}, lateBy == null ? "—" : lateBy > 0 ? `${Math.round(lateBy)} min late` : `${Math.round(-lateBy)} min early`));
    }),
    plan.unscheduled.map((u) => h("tr", { className: "late" }, h("td", {}, u.workOrder), h("td", {}, "not scheduled"), h("td", {}, u.reason), h("td", {}), h("td", {}))),
  );
}

function select(id) {
  const topic = `machine:${factory()}/${id}`;
  selected?.chart?.destroy();
  selected = { id, topic, chart: null, data: null, sensors: [], range: rangePicker().value };
  $("detail").hidden = false;
  $("detail-title").textContent = id;
  connection.invoke("Subscribe", topic).then((s) => renderDetail(s.machine));
}

/** The range selector above the chart (made once). */
function rangePicker() {
  let picker = $("range");
  if (!picker) {
    picker = h("select", { id: "range", title: "chart range" }, Object.entries(ranges).map(([key, r]) => h("option", { value: key }, r.label)));
    picker.addEventListener("change", () => {
      if (!selected) return;
      selected.range = picker.value;
      selected.chart?.destroy();
      selected.chart = null;
      if (selected.range !== "live") loadHistory(selected);
      else connection.invoke("Subscribe", selected.topic).then((s) => renderDetail(s.machine));
    });
    $("chart").before(picker);
  }
  return picker;
}

/**
 * Each sensor keeps its own scale (temperature and vibration differ by orders of magnitude), so each
 * gets its own axis in its series' colour, alternating left and right: no line is read against
 * another sensor's numbers.
 */
function newChart(sensors, data) {
  const colour = (i) => `hsl(${i * 70},70%,45%)`;
  return new uPlot(
    {
      width: Math.min(900, window.innerWidth - 80),
      height: 240,
      series: [{}, ...sensors.map((s, i) => ({ label: s, stroke: colour(i), scale: `s${i}` }))],
      axes: [{}, ...sensors.map((s, i) => ({ scale: `s${i}`, side: i % 2 === 0 ? 3 : 1, stroke: colour(i), label: s, grid: { show: i === 0 } }))],
    },
    data,
    $("chart"),
  );
}

/** Charts the bucket averages of every sensor over the chosen range, from GET …/history?step=. */
async function loadHistory(view) {
  const key = view.range;
  const range = ranges[key];
  const to = new Date();
  const from = new Date(to.getTime() - range.span * 1000);
  const query = (sensor) => `/machines/${encodeURIComponent(view.id)}/history?sensor=${encodeURIComponent(sensor)}&from=${from.toISOString()}&to=${to.toISOString()}&step=${range.step}`;
  const results = await Promise.all(view.sensors.map((sensor) => api(query(sensor)).catch(() => ({ buckets: [] }))));
  if (selected !== view || view.range !== key) return; // another machine or range was chosen meanwhile
  const times = [...new Set(results.flatMap((r) => r.buckets.map((b) => Date.parse(b.time) / 1000)))].sort((a, b) => a - b);
  const data = [times, ...results.map((r) => {
    const byTime = new Map(r.buckets.map((b) => [Date.parse(b.time) / 1000, b.avg]));
    return times.map((t) => byTime.get(t) ?? null);
  })];
  view.chart?.destroy();
  view.chart = newChart(view.sensors, data);
  $("chart").dataset.range = key;
  $("chart").dataset.points = String(times.length);
}

function renderDetail(m) {
  fill($("detail-faults"), (m.activeFaults ?? []).flatMap((f) => [h("span", { className: "badge" }, `${f.kind} · ${f.sensor}`), " "]));
  fill(
    $("detail-sensors"),
    row("th", "sensor", "value", "mean", "min", "max", "anomaly"),
    m.sensors.map((s) => row("td", s.sensor, `${fmt(s.value)} ${s.unit ?? ""}`, fmt(s.statistics.mean), fmt(s.statistics.min), fmt(s.statistics.max), s.anomalyScore.toFixed(2))),
  );
  if (!selected.sensors.length) selected.sensors = m.sensors.map((s) => s.sensor);
  if (selected.range !== "live") {
    // The history chart is loaded once per choice; live changes update only the table.
    if (!selected.chart && !selected.loading) {
      selected.loading = true;
      loadHistory(selected).finally(() => (selected.loading = false));
    }
    return;
  }
  if (!selected.chart) {
    selected.data = [[], ...selected.sensors.map(() => [])];
    selected.chart = newChart(selected.sensors, selected.data);
    $("chart").dataset.range = "live";
    delete $("chart").dataset.points;
  }
  const t = Date.parse(m.sensors[0]?.timestamp ?? new Date().toISOString()) / 1000;
  if (selected.data[0].length && t <= selected.data[0][selected.data[0].length - 1]) return;
  selected.data[0].push(t);
  selected.sensors.forEach((name, i) => selected.data[i + 1].push(m.sensors.find((s) => s.sensor === name)?.value ?? null));
  if (selected.data[0].length > 600) selected.data.forEach((a) => a.shift());
  selected.chart.setData(selected.data);
}

/** A table row of header or data cells; each cell is text or an element. */
const row = (cell, ...cells) => h("tr", {}, cells.map((c) => h(cell, {}, c)));

const pct = (v) => (v == null ? "–" : `${Math.round(v * 100)} %`);

// Line OEE and the bottleneck (it moves as machines speed up or stall), refreshed every few seconds.
async function loadPerformance() {
  for (const [lineId, el] of linePanels) {
    const p = await api(`/lines/${encodeURIComponent(lineId)}/performance`).catch(() => null);
    if (!p) continue;
    const w = p.windows.find((x) => x.window === "shift") ?? p.windows.find((x) => x.window === "1h");
    if (w) {
      fill(el, `OEE ${w.window}: `, h("b", {}, pct(w.oee)), ` (availability ${pct(w.availability)} · performance ${pct(w.performance)} · quality ${pct(w.quality)})`,
        p.bottleneck ? [" · bottleneck ", h("b", { className: "bn" }, p.bottleneck.machine), " ", h("small", {}, p.bottleneck.evidence)] : null);
    } else {
      fill(el, "no OEE yet");
    }
    for (const m of p.machines) document.getElementById(`tile-${m.machine}`)?.classList.toggle("bottleneck", p.bottleneck?.machine === m.machine);
  }
}

async function loadKpis() {
  const asked = factory();
  const k = await api("/kpis");
  if (asked !== factory()) return;
  const a = k.openTicketsByAge;
  const low = k.stockCoverage.filter((c) => c.days != null)[0];
  const hours = (v) => (v == null ? "–" : `${v.toFixed(1)} h`);
  const kpi = (label, value, ...rest) => h("div", {}, h("small", {}, label), h("b", {}, value), ...rest);
  fill(
    $("kpis"),
    k.lines.map((l) => kpi(`OEE ${l.line} (${l.window})`, pct(l.oee))),
    kpi("open tickets (<1 h · 1–8 h · 8–24 h · >1 d)", String(k.openTickets), ` ${a.underOneHour} · ${a.oneToEightHours} · ${a.eightToTwentyFourHours} · ${a.overADay}`),
    kpi("MTTR · MTBF", k.mttrMinutes == null ? "–" : `${k.mttrMinutes.toFixed(0)} min`, ` · ${hours(k.mtbfHours)}`),
    kpi("lowest stock coverage", low ? `${low.days.toFixed(1)} d` : "–", low ? ` ${low.bin}` : ""),
    h("div", { id: "late-orders" }, h("small", {}, "late work orders"), h("b", {}, String(k.lateWorkOrders.length)), ` ${k.lateWorkOrders.slice(0, 3).map((o) => o.id).join(", ")}`),
    k.quality ? kpi("first-pass yield (24 h)", pct(k.quality.firstPassYield), ` scrap ${k.quality.scrap}`) : null,
  );
  quality.renderPareto(k.quality);
}

async function loadLists() {
  const asked = factory();
  const [tickets, purchases, letters] = await Promise.all([
    api("/tickets?limit=20"),
    api("/purchase-requests"),
    api("/dead-letters?limit=10").catch(() => ({ items: [] })),
  ]);
  if (asked !== factory()) return;
  const note = (t) => [...(t.history ?? [])].reverse().find((s) => s.note)?.note ?? [...(t.evidence ?? [])].reverse().find((e) => e.note)?.note ?? "";
  const button = (data, label) => h("button", { dataset: data }, label);
  fill(
    $("tickets"),
    row("th", "ticket", "status", "evidence", "note", "effect", ""),
    tickets.items.map((t) => row("td", t.id, t.status, String(t.evidenceCount), note(t), t.effect ? t.effect.summary : "—",
      ["open", "acknowledged", "inProgress"].includes(t.status)
        ? h("span", {}, button({ ticket: t.id, action: "acknowledge" }, "acknowledge"), " ", button({ ticket: t.id, action: "resolve" }, "resolve"))
        : "")),
  );
  fill(
    $("purchases"),
    row("th", "request", "sku", "qty", "status", ""),
    purchases.items.slice(0, 20).map((p) => row("td", p.id, p.sku, String(p.quantity), p.status, p.status === "open" ? button({ request: p.id, action: "order" }, "order") : "")),
  );
  fill(
    $("dead-letters"),
    row("th", "at", "source", "topic", "reason", "payload"),
    letters.items.map((d) => row("td", d.at, d.source, d.topic ?? "", d.reason, d.payload.length > 160 ? `${d.payload.slice(0, 160)}…` : d.payload)),
  );
}

document.addEventListener("click", async (e) => {
  const b = e.target.closest("button");
  if (!b) return;
  const path = b.dataset.ticket
    ? `/tickets/${encodeURIComponent(b.dataset.ticket)}/${encodeURIComponent(b.dataset.action)}`
    : `/purchase-requests/${encodeURIComponent(b.dataset.request)}/${encodeURIComponent(b.dataset.action)}`;
  await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by: "dashboard" }) }).catch(() => {});
  loadLists();
});
$("factory").addEventListener("change", () => {
  if (factory() === shownFactory) return;
  quality.reset();
  genealogy.reset();
  const asked = factory();
  delete document.body.dataset.loaded;
  return loadOverview().then(loadSchedule).then(loadLists).then(loadPerformance).then(loadKpis).then(() => quality.load()).then(() => genealogy.load()).then(() => effects.load())
    .finally(() => loaded(asked));
});

/**
 * Marks the page as laid out for a factory (body[data-loaded]): every panel has had its first
 * load, so nothing above a tile grows and moves it any more.
 */
function loaded(asked) {
  if (asked === factory()) document.body.dataset.loaded = asked;
}

(async () => {
  await connection.start();
  setConnection(true);
  const first = overviewLoad + 1;
  await loadOverview();
  await loadSchedule().catch(() => {});
  await loadLists();
  await loadPerformance().catch(() => {});
  await loadKpis().catch(() => {});
  await quality.load().catch(() => {});
  await genealogy.load().catch(() => {});
  setInterval(() => genealogy.load().catch(() => {}), 5000);
  setInterval(() => loadLists().catch(() => {}), 5000);
  setInterval(() => quality.load().catch(() => {}), 5000);
  await effects.load().catch(() => {});
  if (overviewLoad === first) loaded(shownFactory); // else a factory chosen meanwhile marks its own load
  setInterval(() => effects.load().catch(() => {}), 5000);
  setInterval(() => loadPerformance().catch(() => {}), 5000);
  setInterval(() => loadKpis().catch(() => {}), 10000);
})();
