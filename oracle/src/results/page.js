// Draws the results page from the JSON embedded in it (schema lmo-results/1).
"use strict";
const t0 = performance.now();
const R = JSON.parse(document.getElementById("results").textContent);
const COLOURS = { "PUD": "#1f3b8f", "PMD CONT": "#7b3fb0", "PMD": "#3a78d8", "PTE CONT": "#e8912d", "PTE": "#f2d04b" };
const INVALID = "#b8b8b8", SHARED = "#d0108a";
const tip = document.getElementById("tip");
// Canvases are drawn once the page is laid out (their width is the page's).
const pending = [];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
function human(n) {
  const u = ["B", "K", "M", "G", "T"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1 && n % 1024 === 0) { n /= 1024; i++; }
  return n + u[i];
}
const UNIT = 4096;
const hex = (base, units) => "0x" + (base + BigInt(units) * 4096n).toString(16);

// One side of the page's compact map (html.rs `columns`) as arrays of 4 KiB units from
// `lo`: starts, ends, PAs, and indices into the kinds and attributes tables.
function decode(col, map) {
  const n = col.n.length, s = new Float64Array(n), e = new Float64Array(n), p = new Float64Array(n);
  let end = 0, pa = 0;
  for (let i = 0; i < n; i++) {
    s[i] = end + col.g[i]; e[i] = s[i] + col.n[i];
    p[i] = pa + col.d[i]; pa = p[i] + col.n[i]; end = e[i];
  }
  return { n, s, e, p, k: col.k, a: col.a, map };
}
function lineText(side, i, lo) {
  const kind = side.map.kinds[side.k[i]].split(" ");
  return `${hex(lo, side.s[i])}-${hex(lo, side.e[i])} ${human((side.e[i] - side.s[i]) * UNIT).padStart(6)} ${kind[0]} ${kind[1] ? "CONT" : "    "} pa=${hex(0n, side.p[i])} ${side.map.attrs[side.a[i]]}`;
}
function find(side, off) {
  let lo = 0, hi = side.n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (side.e[mid] <= off) lo = mid + 1; else if (side.s[mid] > off) hi = mid - 1; else return mid;
  }
  return -1;
}
function draw(canvas, sides, span) {
  const W = canvas.width = Math.max(300, Math.floor(canvas.clientWidth * (window.devicePixelRatio || 1)));
  canvas.height = 64;
  const g = canvas.getContext("2d");
  sides.forEach((side, k) => {
    const y = k * 34;
    const colours = side.map.kinds.map(kd => COLOURS[kd] || "#999");
    const invalid = side.map.attrs.map(t => t.startsWith("INVALID"));
    const shared = side.map.attrs.map(t => t.endsWith(" shared"));
    let lastX = -1, lastColour = "";
    for (let i = 0; i < side.n; i++) {
      const x0 = Math.floor(side.s[i] / span * W), x1 = Math.max(x0 + 1, Math.ceil(side.e[i] / span * W));
      const colour = invalid[side.a[i]] ? INVALID : colours[side.k[i]];
      // A million narrow lines land on a few thousand pixels: draw each pixel once.
      if (x1 === x0 + 1 && x0 === lastX && colour === lastColour) continue;
      g.fillStyle = colour; g.fillRect(x0, y, x1 - x0, 28);
      if (shared[side.a[i]]) { g.fillStyle = SHARED; g.fillRect(x0, y, x1 - x0, 6); }
      lastX = x0; lastColour = colour;
    }
  });
}

function checkpointView(s, c) {
  const box = el("div", { class: "checkpoint", "data-checkpoint": c.checkpoint });
  box.append(el("h3", { text: `${c.checkpoint}: ${c.divergences.length} divergent range(s)` + (c.deterministic ? "" : " (nondeterministic checkpoint)") }));
  const map = c.map;
  if (!map.units) { box.append(el("p", { text: "no map read" })); return box; }
  const lo = BigInt(map.lo), span = map.units;
  const sides = [decode(map.linux, map), decode(map.model, map)];
  const band = el("div", { class: "band" });
  const canvas = el("canvas");
  band.append(canvas, el("span", { class: "side", style: "top:8px", text: "Linux" }), el("span", { class: "side", style: "top:42px", text: "model" }));
  const detail = el("pre", { class: "lines", hidden: "" });
  c.divergences.forEach((d, i) => {
    const a = Number(BigInt(d.start) - lo) / UNIT, b = Number(BigInt(d.end) - lo) / UNIT;
    const m = el("div", { class: "divergence", "data-scenario": s.scenario, "data-checkpoint": c.checkpoint, "data-start": d.start, "data-end": d.end, "data-classes": d.classes.join(" "), title: `${d.start}-${d.end} ${d.explanation}`, style: `left:${a / span * 100}%;width:${(b - a) / span * 100}%` });
    m.addEventListener("click", () => {
      band.querySelectorAll(".divergence.selected").forEach(x => x.classList.remove("selected"));
      m.classList.add("selected");
      detail.hidden = false;
      detail.textContent = `${d.start}-${d.end} ${d.explanation}\n` + d.linux.map(t => "linux: " + t).join("\n") + "\n" + d.model.map(t => "model: " + t).join("\n");
    });
    band.append(m);
  });
  band.addEventListener("mousemove", ev => {
    const r = canvas.getBoundingClientRect();
    const off = (ev.clientX - r.left) / r.width * span;
    const va = hex(lo, Math.floor(off));
    const [l, m] = sides.map(sd => find(sd, off));
    tip.hidden = false; tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
    tip.textContent = `${va}\nlinux: ${l >= 0 ? lineText(sides[0], l, lo) : "(nothing mapped)"}\nmodel: ${m >= 0 ? lineText(sides[1], m, lo) : "(nothing mapped)"}`;
  });
  band.addEventListener("mouseleave", () => { tip.hidden = true; });
  const axis = el("div", { class: "axis" });
  for (let k = 0; k <= 4; k++) {
    const span_ = el("span", { text: hex(lo, Math.floor(span * k / 4)), style: `left:${k * 25}%;` + (k === 4 ? "transform:translateX(-100%)" : "") });
    axis.append(span_);
  }
  box.append(band, axis, detail);
  pending.push(() => draw(canvas, sides, span));
  if (c.divergences.length) {
    const list = el("details", {}, el("summary", { text: `divergent ranges (${c.divergences.length})` }));
    const pre = el("pre", { class: "lines" });
    pre.textContent = c.divergences.slice(0, 200).map(d => `${d.start}-${d.end} [${d.classes.join(", ")}] ${d.explanation}`).join("\n") + (c.divergences.length > 200 ? `\n... ${c.divergences.length - 200} more in report.json` : "");
    list.append(pre);
    box.append(list);
  }
  for (const m of c.rsi_mismatches) box.append(el("p", { class: "bad", text: m }));
  for (const m of c.sharing || []) box.append(el("p", { class: "bad", text: `sharing: ${m}` }));
  return box;
}

function scenarioView(s) {
  const sec = el("section", { id: "s-" + s.scenario, "data-verdict": s.verdict });
  sec.append(el("h2", { text: `${s.scenario}: ${s.verdict}` }), el("p", { text: s.description }));
  if (s.kernel) sec.append(el("p", { text: `kernel: ${s.kernel.source}, configs ${s.kernel.configs.join(" + ")}, patches [${s.kernel.patches.join(", ")}], ${s.kernel.compiler}` }));
  for (const why of [s.not_run, s.infrastructure_failure, s.kernel_failure]) if (why) sec.append(el("pre", { text: why }));
  const legend = el("div", { class: "legend" });
  for (const [k, v] of Object.entries(COLOURS)) legend.append(el("span", {}, el("i", { style: "background:" + v }), k));
  legend.append(el("span", {}, el("i", { style: "background:" + INVALID }), "invalid"), el("span", {}, el("i", { style: "background:" + SHARED }), "shared (top strip)"), el("span", {}, el("i", { style: "border:2px solid #e00" }), "divergent"));
  if (s.checkpoints.length) sec.append(legend);
  for (const c of s.checkpoints) sec.append(checkpointView(s, c));
  if (s.calls.length) {
    const d = el("details", { open: "" }, el("summary", { text: `call trace: ${s.calls.length} call(s), ${s.calls.filter(c => c.mismatch).length} with a different return code in the model` }));
    d.append(el("pre", { text: s.calls.map(c => c.text).join("\n") }));
    sec.append(d);
  }
  if (s.monitor) {
    const m = s.monitor;
    const d = el("details", {}, el("summary", { text: `monitor: ${m.events.length} event(s), ${m.rsi_calls} RSI call(s), ${m.stage2_faults} stage-2 fault(s); RIPAS EMPTY: ${m.empty_ranges.join(", ") || "none"}` }));
    d.append(el("pre", { text: m.events.join("\n") }));
    sec.append(d);
  }
  for (const w of s.kernel_warnings) {
    sec.append(el("details", { class: "warn" }, el("summary", { text: "kernel WARN: " + w.split("\n")[0] }), el("pre", { text: w })));
  }
  return sec;
}

function verdictTable() {
  const t = el("table", { class: "verdicts" });
  t.append(el("tr", {}, ...["scenario", "verdict", "divergent ranges", "kernel WARNs", "seconds"].map(h => el("th", { text: h }))));
  for (const s of R.scenarios) {
    const n = s.checkpoints.reduce((a, c) => a + c.divergences.length, 0);
    const cls = !s.as_expected ? "bad" : (n ? "expected" : "");
    const link = el("a", { href: "#s-" + s.scenario, text: s.scenario });
    t.append(el("tr", { class: cls }, el("td", {}, link), el("td", { text: s.verdict }), el("td", { text: String(n) }), el("td", { text: String(s.kernel_warnings.length) }), el("td", { text: s.seconds.toFixed(1) })));
  }
  return t;
}

const summary = document.getElementById("summary");
const bad = R.scenarios.filter(s => !s.as_expected).length;
if (R.run.series) summary.append(el("p", { class: "series", text: `series ${R.run.series.origin} on each scenario's own kernel: ` + R.run.series.subjects.map((t, i) => `${i + 1}/${R.run.series.subjects.length} ${t}`).join("; ") }));
summary.append(el("p", { text: `${R.scenarios.length} scenario(s), ${bad} not as expected` + (R.complete ? "" : " (INCOMPLETE run)") + (R.run.shard ? ` (shard ${R.run.shard.index}/${R.run.shard.count})` : "") }), verdictTable());
const root = document.getElementById("scenarios");
for (const s of R.scenarios) root.append(scenarioView(s));
// The walker's scale plot, when `oracle bench scale` left one beside the page.
const plot = el("img", { src: "scale.svg", alt: "walk time against leaves (oracle bench scale)" });
plot.addEventListener("error", () => scalebox.remove());
const scalebox = el("section", { id: "scale" }, el("h2", { text: "walker scale (oracle bench scale)" }), plot);
root.append(scalebox);
for (const d of pending) d();
window.addEventListener("resize", () => { for (const d of pending) d(); });
// A link to a scenario (index.html#s-NAME) lands on it once it exists.
if (location.hash) { const target = document.getElementById(decodeURIComponent(location.hash.slice(1))); if (target) target.scrollIntoView(); }
document.body.dataset.renderMs = (performance.now() - t0).toFixed(0);
document.body.dataset.ready = "1";
