// Verify the effect: the factory's actions (tickets resolved, settings changed, re-plans,
// engineering changes), open ones with the "before" figures captured, verified ones with their KPIs
// before and after and each side's sample size.
//
// Text only, like the rest of the dashboard: elements come from the `h` helper of app.js and are
// filled through textContent.
const $ = (id) => document.getElementById(id);

const RATES = new Set(["scrapRate", "anomalyRate", "oee"]);
const NAMES = { oee: "OEE", scrapRate: "scrap", anomalyRate: "anomalies", failures: "failures", mtbfHours: "MTBF h", cpk: "Cpk" };

/** The value of one side with its sample size, e.g. "20 % (n=10 parts)", or why there is none. */
export function side(kpi, s) {
  if (!s) return "…";
  const value = s.value == null ? (s.note ?? "not enough data")
    : RATES.has(kpi) ? `${(s.value * 100).toFixed(1)} %`
    : kpi === "failures" ? String(s.value) : s.value.toFixed(2);
  const hits = s.hits == null ? "" : `${s.hits} of `;
  return `${value} (${hits}n=${s.samples} ${s.sampleUnit})`;
}

/** Wires the effects section; returns { load } to refresh the list of actions. */
export function initEffects({ api, h, fill, factory }) {
  async function load() {
    const asked = factory();
    const list = await api("/actions?limit=20");
    if (asked !== factory()) return;
    fill(
      $("actions"),
      h("tr", {}, ["action", "kind", "when", "status", "KPI", "before", "after", "verdict"].map((t) => h("th", {}, t))),
      list.items.flatMap((a) => {
        const figures = a.figures.length ? a.figures : [null];
        return figures.map((f, i) => h("tr", { className: `${a.status}${f ? ` ${f.verdict.replace(/ /g, "-")}` : ""}` },
          h("td", {}, i === 0 ? a.action.id : ""),
          h("td", {}, i === 0 ? a.action.kind : ""),
          h("td", {}, i === 0 ? a.action.at : ""),
          h("td", {}, i === 0 ? a.status : ""),
          h("td", {}, f ? `${NAMES[f.kpi] ?? f.kpi} ${f.of}` : "—"),
          h("td", {}, f ? side(f.kpi, f.before) : ""),
          h("td", {}, f ? side(f.kpi, f.after) : ""),
          h("td", {}, f ? f.verdict : a.summary)));
      }),
    );
  }

  return { load };
}
