// Genealogy: the factory's work orders; choosing one shows what it was made of and how — the bins,
// SKUs and lots its backflush drew, the machines that made it with their processing windows, and
// per machine the summary of every sensor over its window (read from the history on the server).
//
// Text only, like the rest of the dashboard: elements come from the `h` helper of app.js and are
// filled through textContent. No <button>s: app.js treats every button click as a ticket action.

const $ = (id) => document.getElementById(id);

/** Wires the genealogy section; returns { load, reset }. */
export function initGenealogy({ api, h, fill, factory }) {
  let chosen = null; // work order id
  let load = 0;
  let shown = 0; // when the chosen order's genealogy was last read (it reads history: not every tick)

  const num = (v) => (v == null ? "–" : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4));
  const time = (t) => new Date(t).toISOString().replace("T", " ").slice(0, 19);

  async function loadOrders() {
    const asked = factory();
    const list = await api("/work-orders?limit=200");
    if (asked !== factory()) return;
    fill(
      $("genealogy-orders"),
      h("tr", {}, ["work order", "product", "status", "good"].map((t) => h("th", {}, t))),
      list.items.map((o) => h("tr", {
        className: o.id === chosen ? "chosen" : "",
        dataset: { order: o.id },
        onclick: () => choose(o.id),
      }, h("td", {}, o.id), h("td", {}, o.definition.product), h("td", {}, o.status), h("td", {}, String(o.good)))),
    );
  }

  function choose(id) {
    chosen = id;
    for (const row of document.querySelectorAll("#genealogy-orders tr[data-order]")) row.classList.toggle("chosen", row.dataset.order === id);
    loadGenealogy().catch(() => {});
  }

  async function loadGenealogy() {
    if (!chosen) return;
    const mine = ++load;
    const g = await api(`/work-orders/${encodeURIComponent(chosen)}/genealogy`);
    if (mine !== load) return;
    shown = Date.now();
    const view = $("genealogy-view");
    view.hidden = false;
    view.dataset.order = g.workOrder;
    fill($("genealogy-title"), `${g.workOrder} · ${g.product}`, h("small", {}, ` ${g.status} · ${g.movementsTotal} movements · lots ${g.lots.join(", ") || "none"}`));
    fill(
      $("genealogy-materials"),
      h("tr", {}, ["bin", "SKU", "lot", "quantity", "movements"].map((t) => h("th", {}, t))),
      g.materials.map((m) => h("tr", { dataset: { lot: m.lot ?? "" } },
        h("td", {}, m.bin), h("td", {}, m.sku), h("td", { className: "lot" }, m.lot ?? "untracked"), h("td", {}, String(m.quantity)), h("td", {}, String(m.movements)))),
    );
    fill(
      $("genealogy-machines"),
      h("tr", {}, ["machine / sensor", "window", "good / scrap", "n", "mean", "min", "max", "std dev"].map((t) => h("th", {}, t))),
      // fill flattens one level: one flat list of rows, a machine's row then its sensors'.
      g.machines.flatMap((m) => [
        h("tr", { className: "machine", dataset: { machine: m.machine } },
          h("td", {}, m.machine), h("td", {}, `${time(m.from)} – ${time(m.to)}`), h("td", {}, `${m.good} / ${m.scrap}`),
          h("td", { title: m.note ?? "" }, m.sensors.length ? "" : (m.note ?? "no readings in the window")), h("td", {}), h("td", {}), h("td", {}), h("td", {})),
        ...m.sensors.map((s) => h("tr", { className: "sensor", dataset: { machine: m.machine, sensor: s.sensor } },
          h("td", {}, `${s.sensor}${s.unit ? ` (${s.unit})` : ""}`), h("td", {}), h("td", {}),
          h("td", {}, String(s.count)), h("td", { className: "mean" }, num(s.mean)), h("td", {}, num(s.min)), h("td", {}, num(s.max)), h("td", {}, num(s.stdDev)))),
      ]),
    );
    fill($("genealogy-notes"), [g.parts.length ? `parts: ${g.parts.slice(0, 20).join(", ")}${g.parts.length > 20 ? " …" : ""}` : "", ...g.notes].filter((t) => t).join(" · "));
  }

  return {
    load: () => loadOrders().then(() => (chosen && Date.now() - shown > 15000 ? loadGenealogy() : null)),
    reset: () => {
      chosen = null;
      $("genealogy-view").hidden = true;
    },
  };
}
