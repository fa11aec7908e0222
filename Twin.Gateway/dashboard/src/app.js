// The plant dashboard: lines and machine tiles live over SignalR (/hubs/twins), a machine page
// with live sensor charts (longer ranges from the stored history), open tickets and purchase
// requests with their actions.
import * as signalR from "@microsoft/signalr";
import uPlot from "uplot";

const $ = (id) => document.getElementById(id);
// With authentication on, a bearer token given once as ?token=… (or #token=…) is kept for this tab.
const token = (() => {
  const given = new URLSearchParams(location.search).get("token") ?? new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) sessionStorage.setItem("twin-token", given);
  return sessionStorage.getItem("twin-token");
})();
const withToken = (init = {}) => (token ? { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } } : init);
const api = (path, init) => fetch(`/api/factories/${encodeURIComponent(factory())}${path}`, withToken(init)).then((r) => (r.ok ? r.json() : Promise.reject(r)));
const factory = () => $("factory").value.trim() || "demo";
const keyValues = ["temperature", "vibration", "pressure", "spindle_speed", "power"];
const tiles = new Map(); // topic → { el, version }
const lineHeaders = new Map(); // line topic → h2
const linePanels = new Map(); // line id → element showing OEE and bottleneck
let selected = null; // { id, topic, chart, data, sensors, range }
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
  if (change.line) {
    const header = lineHeaders.get(change.topic);
    if (header) header.innerHTML = `${change.line.name ?? change.line.id} <small>(${change.line.id}) · ${change.line.status} · ${fmt(change.line.throughput)} parts/min · ${change.line.good} good</small>`;
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
    .map((s) => `${s.sensor} <b>${fmt(s.value)}</b> ${s.unit ?? ""}`)
    .join("<br>");
  el.innerHTML = `<h3><span>${m.id}</span>${faults.length ? `<span class="badge" title="${faults.map((f) => `${f.kind} on ${f.sensor}`).join(", ")}">${faults.length}</span>` : ""}</h3>
    <div class="values">${m.status} · ${m.counts.good} good<br>${values}</div>`;
}

async function loadOverview() {
  for (const topic of [...tiles.keys(), ...lineHeaders.keys()]) await connection.invoke("Unsubscribe", topic).catch(() => {});
  tiles.clear();
  lineHeaders.clear();
  linePanels.clear();
  const overview = $("overview");
  overview.innerHTML = "";
  const [lines, machines] = await Promise.all([api("/lines"), api("/machines?limit=1000")]);
  const grouped = new Map(lines.items.map((l) => [l.id, { name: l.name ?? l.id, ids: l.machines.map((m) => m.id) }]));
  const assigned = new Set([...grouped.values()].flatMap((g) => g.ids));
  const others = machines.items.map((m) => m.id).filter((id) => !assigned.has(id));
  if (others.length) grouped.set("", { name: "Not on a line", ids: others });
  for (const [lineId, group] of grouped) {
    const section = document.createElement("div");
    section.className = "line";
    section.innerHTML = `<h2>${group.name}${lineId ? ` <small>(${lineId})</small>` : ""}</h2><div class="perf"></div><div class="tiles"></div>`;
    overview.append(section);
    if (lineId) {
      linePanels.set(lineId, section.querySelector(".perf"));
      const topic = `line:${factory()}/${lineId}`;
      lineHeaders.set(topic, section.querySelector("h2"));
      apply(await connection.invoke("Subscribe", topic));
    }
    for (const id of group.ids) {
      const el = document.createElement("div");
      el.className = "tile unknown";
      el.id = `tile-${id}`;
      el.onclick = () => select(id);
      section.querySelector(".tiles").append(el);
      const topic = `machine:${factory()}/${id}`;
      tiles.set(topic, { el, version: -1 });
      const snapshot = await connection.invoke("Subscribe", topic);
      apply(snapshot);
    }
  }
}

async function resubscribe() {
  setConnection(true);
  // Versions missed while away: subscribing again returns the current snapshot.
  for (const [topic, tile] of tiles) {
    tile.version = -1;
    apply(await connection.invoke("Subscribe", topic));
  }
  for (const topic of lineHeaders.keys()) apply(await connection.invoke("Subscribe", topic));
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
    picker = document.createElement("select");
    picker.id = "range";
    picker.title = "chart range";
    picker.innerHTML = Object.entries(ranges).map(([key, r]) => `<option value="${key}">${r.label}</option>`).join("");
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

function newChart(sensors, data) {
  return new uPlot(
    { width: Math.min(900, window.innerWidth - 80), height: 240, series: [{}, ...sensors.map((s, i) => ({ label: s, stroke: `hsl(${i * 70},70%,45%)`, scale: `s${i}` }))], axes: [{}, { scale: "s0" }] },
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
  $("detail-faults").innerHTML = (m.activeFaults ?? []).map((f) => `<span class="badge">${f.kind} · ${f.sensor}</span>`).join(" ");
  $("detail-sensors").innerHTML = "<tr><th>sensor</th><th>value</th><th>mean</th><th>min</th><th>max</th><th>anomaly</th></tr>" +
    m.sensors.map((s) => `<tr><td>${s.sensor}</td><td>${fmt(s.value)} ${s.unit ?? ""}</td><td>${fmt(s.statistics.mean)}</td><td>${fmt(s.statistics.min)}</td><td>${fmt(s.statistics.max)}</td><td>${s.anomalyScore.toFixed(2)}</td></tr>`).join("");
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

const pct = (v) => (v == null ? "–" : `${Math.round(v * 100)} %`);

// Line OEE and the bottleneck (it moves as machines speed up or stall), refreshed every few seconds.
async function loadPerformance() {
  for (const [lineId, el] of linePanels) {
    const p = await api(`/lines/${encodeURIComponent(lineId)}/performance`).catch(() => null);
    if (!p) continue;
    const w = p.windows.find((x) => x.window === "shift") ?? p.windows.find((x) => x.window === "1h");
    el.innerHTML = w
      ? `OEE ${w.window}: <b>${pct(w.oee)}</b> (availability ${pct(w.availability)} · performance ${pct(w.performance)} · quality ${pct(w.quality)})` +
        (p.bottleneck ? ` · bottleneck <b class="bn">${p.bottleneck.machine}</b> <small>${p.bottleneck.evidence}</small>` : "")
      : "no OEE yet";
    for (const m of p.machines) document.getElementById(`tile-${m.machine}`)?.classList.toggle("bottleneck", p.bottleneck?.machine === m.machine);
  }
}

async function loadKpis() {
  const k = await api("/kpis");
  const a = k.openTicketsByAge;
  const low = k.stockCoverage.filter((c) => c.days != null)[0];
  const hours = (v) => (v == null ? "–" : `${v.toFixed(1)} h`);
  $("kpis").innerHTML = [
    ...k.lines.map((l) => `<div><small>OEE ${l.line} (${l.window})</small><b>${pct(l.oee)}</b></div>`),
    `<div><small>open tickets (&lt;1 h · 1–8 h · 8–24 h · &gt;1 d)</small><b>${k.openTickets}</b> ${a.underOneHour} · ${a.oneToEightHours} · ${a.eightToTwentyFourHours} · ${a.overADay}</div>`,
    `<div><small>MTTR · MTBF</small><b>${k.mttrMinutes == null ? "–" : `${k.mttrMinutes.toFixed(0)} min`}</b> · ${hours(k.mtbfHours)}</div>`,
    `<div><small>lowest stock coverage</small><b>${low ? `${low.days.toFixed(1)} d` : "–"}</b> ${low ? low.bin : ""}</div>`,
    `<div><small>late work orders</small><b>${k.lateWorkOrders.length}</b> ${k.lateWorkOrders.slice(0, 3).map((o) => o.id).join(", ")}</div>`,
  ].join("");
}

async function loadLists() {
  const [tickets, purchases] = await Promise.all([api("/tickets?status=open-any"), api("/purchase-requests")]);
  $("tickets").innerHTML = "<tr><th>ticket</th><th>status</th><th>evidence</th><th></th></tr>" +
    tickets.items.map((t) => `<tr><td>${t.id}</td><td>${t.status}</td><td>${t.evidenceCount}</td><td>
      <button data-ticket="${t.id}" data-action="acknowledge">acknowledge</button>
      <button data-ticket="${t.id}" data-action="resolve">resolve</button></td></tr>`).join("");
  $("purchases").innerHTML = "<tr><th>request</th><th>sku</th><th>qty</th><th>status</th><th></th></tr>" +
    purchases.items.slice(0, 20).map((p) => `<tr><td>${p.id}</td><td>${p.sku}</td><td>${p.quantity}</td><td>${p.status}</td><td>
      ${p.status === "open" ? `<button data-request="${p.id}" data-action="order">order</button>` : ""}</td></tr>`).join("");
}

document.addEventListener("click", async (e) => {
  const b = e.target.closest("button");
  if (!b) return;
  const path = b.dataset.ticket ? `/tickets/${b.dataset.ticket}/${b.dataset.action}` : `/purchase-requests/${b.dataset.request}/${b.dataset.action}`;
  await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by: "dashboard" }) }).catch(() => {});
  loadLists();
});
$("factory").addEventListener("change", () => loadOverview().then(loadLists).then(loadPerformance).then(loadKpis));

(async () => {
  await connection.start();
  setConnection(true);
  await loadOverview();
  await loadLists();
  await loadPerformance().catch(() => {});
  await loadKpis().catch(() => {});
  setInterval(() => loadLists().catch(() => {}), 5000);
  setInterval(() => loadPerformance().catch(() => {}), 5000);
  setInterval(() => loadKpis().catch(() => {}), 10000);
})();
