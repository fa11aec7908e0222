// Quality: the characteristics with a control chart, the chart of the one chosen (its points,
// centre line and control limits, the points where a Nelson rule fired marked), and the Pareto of
// scrap by defect code over the last 24 hours with first-pass yield and scrap by machine.
//
// Text only, like the rest of the dashboard: elements come from the `h` helper of app.js and are
// filled through textContent; bar widths go through the CSSOM, which the CSP allows.
import uPlot from "uplot";

const $ = (id) => document.getElementById(id);

/**
 * Wires the quality section. `api(path)` fetches the factory's JSON, `h`/`fill` build elements;
 * returns { load } to refresh the list, the chart and the Pareto (the KPIs come from loadKpis).
 */
export function initQuality({ api, h, fill, factory }) {
  let chosen = null; // "{machine}/{characteristic}"
  let chart = null;
  let load = 0;

  const pct = (v) => (v == null ? "–" : `${(v * 100).toFixed(1)} %`);
  const rule = (r) => r.replace(/^nelson/i, "Nelson ");
  const num = (v) => (v == null ? "–" : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(5));

  async function loadList() {
    const asked = factory();
    const list = await api("/quality/characteristics?limit=200");
    if (asked !== factory()) return;
    fill(
      $("characteristics"),
      h("tr", {}, ["characteristic", "phase", "centre", "Cpk", "out of spec", "rules"].map((t) => h("th", {}, t))),
      list.items.map((c) => h("tr", {
        className: `${c.firingRules.length ? "firing" : ""}${c.id === chosen ? " chosen" : ""}`,
        dataset: { characteristic: c.id },
        onclick: () => choose(c.id),
      },
      h("td", {}, c.id), h("td", {}, c.phase), h("td", {}, num(c.center)), h("td", {}, c.cpk == null ? "–" : c.cpk.toFixed(2)),
      h("td", {}, `${c.outOfSpec} of ${c.readings}`), h("td", {}, c.firingRules.map(rule).join(", ") || "—"))),
    );
    if (!chosen && list.items.length) choose((list.items.find((c) => c.firingRules.length) ?? list.items[0]).id);
  }

  function choose(id) {
    chosen = id;
    for (const row of document.querySelectorAll("#characteristics tr[data-characteristic]")) row.classList.toggle("chosen", row.dataset.characteristic === id);
    loadChart().catch(() => {});
  }

  async function loadChart() {
    if (!chosen) return;
    const mine = ++load;
    const [machine, name] = chosen.split("/");
    const c = await api(`/machines/${encodeURIComponent(machine)}/characteristics/${encodeURIComponent(name)}`);
    if (mine !== load) return;
    const section = $("spc");
    section.hidden = false;
    const l = c.limits;
    fill($("spc-title"), `${c.machine} · ${c.characteristic}`, h("small", {}, ` ${c.subgroupSize === 1 ? "individuals" : `X̄–R, n = ${c.subgroupSize}`} · ${c.phase}${c.phase === "learning" ? ` (${c.baselinePoints} of ${c.baselineSubgroups})` : ""}`));
    fill($("spc-rules"), c.firingRules.length
      ? c.firingRules.flatMap((r) => [h("span", { className: "badge", title: `Nelson rule ${rule(r).slice(7)} fired at the latest point` }, rule(r)), " "])
      : h("small", {}, "no rule firing"));
    const cap = c.capability;
    fill($("spc-limits"),
      l ? `CL ${num(l.center)} · UCL ${num(l.upper)} · LCL ${num(l.lower)} · σ within ${num(l.sigmaWithin)} (${l.subgroupSize === 1 ? "MR̄/1.128" : "R̄/d2"}, ${l.subgroups} baseline points${l.excluded ? `, ${l.excluded} left out` : ""})` : "limits not learned yet",
      c.spec ? ` · spec ${num(c.spec.lsl)} – ${num(c.spec.usl)}${c.spec.unit ? ` ${c.spec.unit}` : ""}` : "",
      cap ? ` · Cp ${cap.cp == null ? "–" : cap.cp.toFixed(2)} · Cpk ${cap.cpk == null ? "–" : cap.cpk.toFixed(2)} (last ${cap.points})` : "");

    const points = c.points;
    // Control charts plot points in their order: the x axis is the point's number.
    const xs = points.map((p) => p.number);
    const line = (v) => points.map(() => (l ? v : null));
    const data = [
      xs,
      points.map((p) => p.value),
      line(l?.center),
      line(l?.upper),
      line(l?.lower),
      points.map((p) => (p.rules ? p.value : null)),
    ];
    const el = $("spc-chart");
    el.dataset.characteristic = chosen;
    el.dataset.points = String(points.length);
    el.dataset.flagged = String(points.filter((p) => p.rules).length);
    chart?.destroy();
    chart = new uPlot({
      width: Math.min(900, window.innerWidth - 80),
      height: 240,
      series: [
        {},
        { label: c.characteristic, stroke: "#3b6fd8", points: { show: true, size: 4 } },
        { label: "CL", stroke: "#1f8a4c", points: { show: false } },
        { label: "UCL", stroke: "#b3261e", dash: [6, 4], points: { show: false } },
        { label: "LCL", stroke: "#b3261e", dash: [6, 4], points: { show: false } },
        { label: "rule fired", stroke: "#b3261e", paths: () => null, points: { show: true, size: 9, fill: "#b3261e" } },
      ],
      scales: { x: { time: false } },
      axes: [{ label: "point" }, { label: c.spec?.unit ?? "" }],
    }, data, el);
  }

  function renderPareto(q) {
    if (!q) {
      fill($("pareto"), h("small", {}, "no inspections yet"));
      fill($("quality-summary"), "");
      return;
    }
    fill($("quality-summary"), `first-pass yield ${pct(q.firstPassYield)} · scrap ${q.scrap} of ${q.inspected} (${pct(q.scrapRate)}) · ${q.window}`);
    const top = q.pareto[0]?.count ?? 1;
    fill(
      $("pareto"),
      q.pareto.length ? q.pareto.map((d) => {
        const bar = h("div", { className: "pareto-fill" });
        bar.style.width = `${(d.count / top) * 100}%`;
        return h("div", { className: "pareto-bar", dataset: { defect: d.defect }, title: `${d.defect}: ${d.count} (${pct(d.share)}; cumulative ${pct(d.cumulative)})` },
          h("span", { className: "pareto-code" }, d.defect), h("span", { className: "pareto-track" }, bar), h("span", { className: "pareto-count" }, `${d.count} · ${pct(d.cumulative)}`));
      }) : h("small", {}, "no scrap"),
      h("table", { id: "scrap-by-machine" },
        h("tr", {}, ["machine", "shift", "inspected", "scrap", "rate"].map((t) => h("th", {}, t))),
        [...q.byMachine, ...q.byShift.filter((s) => s.shift)].map((m) => h("tr", {}, h("td", {}, m.machine), h("td", {}, m.shift ?? "all"), h("td", {}, String(m.inspected)), h("td", {}, String(m.scrap)), h("td", {}, pct(m.rate))))),
    );
  }

  return {
    load: () => loadList().then(loadChart),
    renderPareto,
    reset: () => {
      chosen = null;
      chart?.destroy();
      chart = null;
      $("spc").hidden = true;
    },
  };
}
