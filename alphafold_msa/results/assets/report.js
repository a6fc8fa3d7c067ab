// report.html's page: the data embedded by alphafold_msa/results/html_report.py (gzip, base64) drawn as a 3D view
// (3Dmol.js), the PAE matrix, pLDDT per residue and the tables. Offline: the page's Content-Security-Policy
// allows no request at all. Opened as report.html#selftest it checks itself and writes the outcome as JSON into
// <pre id="selftest"> (tests/test_report_html.py reads it with headless Chromium).
"use strict";

const problems = [];
const blocked = [];
window.addEventListener("error", (event) => problems.push(String(event.message)));
window.addEventListener("unhandledrejection", (event) => problems.push(String(event.reason)));
document.addEventListener("securitypolicyviolation", (event) => blocked.push(event.blockedURI || event.violatedDirective));
const consoleError = console.error;
console.error = (...args) => { problems.push(args.map(String).join(" ")); consoleError.apply(console, args); };

// AlphaFold's pLDDT bands (very high, confident, low, very low).
const BANDS = [[90, "#0053d6"], [70, "#65cbf3"], [50, "#ffdb13"], [0, "#ff7d45"]];
const bandColor = (value) => BANDS.find(([floor]) => value >= floor)[1];
const CHAIN_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];

async function readData() {
  const text = document.getElementById("report-data").textContent.trim();
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

const number = (value, digits = 2) => (typeof value === "number" ? value.toFixed(digits) : "–");

function residueLabel(data, index) {
  const chain = data.chains.find((c) => index >= c.start && index < c.start + c.length) || data.chains[0];
  return `${chain.id}${index - chain.start + 1}`;
}

function paeValues(model) {
  const bytes = Uint8Array.from(atob(model.pae), (c) => c.charCodeAt(0));
  return { bytes, size: Math.round(Math.sqrt(bytes.length)) };
}

function drawPae(canvas, data, model) {
  const { bytes, size } = paeValues(model);
  const scale = Math.max(1, Math.floor(840 / size)); // pixels per residue: a chain boundary stays a thin line
  canvas.width = size * scale;
  canvas.height = size * scale;
  const context = canvas.getContext("2d");
  const image = context.createImageData(size * scale, size * scale);
  for (let i = 0; i < size * scale; i++) {
    for (let j = 0; j < size * scale; j++) {
      const t = Math.min(bytes[Math.floor(i / scale) * size + Math.floor(j / scale)] / 8 / 30, 1); // 0 Å green, 30 white
      const k = 4 * (i * size * scale + j);
      image.data[k] = Math.round(15 + t * 240);
      image.data[k + 1] = Math.round(110 + t * 145);
      image.data[k + 2] = Math.round(15 + t * 240);
      image.data[k + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  context.fillStyle = "#000";
  const width = Math.max(1, Math.round(canvas.width / 420));
  for (const chain of data.chains.slice(1)) {
    context.fillRect(chain.start * scale, 0, width, canvas.height);
    context.fillRect(0, chain.start * scale, canvas.width, width);
  }
}

function paeAt(event, canvas, data, model) {
  const { bytes, size } = paeValues(model);
  const box = canvas.getBoundingClientRect();
  const j = Math.min(size - 1, Math.floor(((event.clientX - box.left) / box.width) * size));
  const i = Math.min(size - 1, Math.floor(((event.clientY - box.top) / box.height) * size));
  return `aligned ${residueLabel(data, i)}, scored ${residueLabel(data, j)}: PAE ${(bytes[i * size + j] / 8).toFixed(2)} Å`;
}

function plddtChart(data, model) {
  const width = 640, height = 160, n = model.plddt.length;
  const x = (i) => (n > 1 ? (i / (n - 1)) * width : width / 2);
  const y = (v) => height - (v / 100) * height;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "plddt");
  for (const [floor, color] of BANDS) {
    const top = { 90: 100, 70: 90, 50: 70, 0: 50 }[floor];
    const band = document.createElementNS(ns, "rect");
    Object.entries({ x: 0, y: y(top), width, height: y(floor) - y(top), fill: color, opacity: 0.15 })
      .forEach(([k, v]) => band.setAttribute(k, v));
    svg.append(band);
  }
  for (const chain of data.chains.slice(1)) {
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: x(chain.start), x2: x(chain.start), y1: 0, y2: height, stroke: "#000" })
      .forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  const path = document.createElementNS(ns, "polyline");
  path.setAttribute("points", model.plddt.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "#222");
  svg.append(path);
  return svg;
}

function table(columns, rows) {
  const head = element("tr", {}, ...columns.map(([, title]) => element("th", {}, title)));
  const body = rows.map((row) => element("tr", {}, ...columns.map(([key]) => element("td", {}, row[key] ?? "–"))));
  return element("table", {}, element("thead", {}, head), element("tbody", {}, ...body));
}

function scoresTable(data) {
  const columns = [["rank", "rank"], ["name", "model"], ["seed", "seed"], ["mean_plddt", "mean pLDDT"],
    ["ptm", "pTM"], ...(data.chains.length > 1 ? [["iptm", "ipTM"], ["ipsae", "ipSAE"], ["pdockq2", "pDockQ2"]] : []),
    ["ranking_confidence", "ranking confidence"]];
  return table(columns, data.models.map((m) => ({ ...m, mean_plddt: number(m.mean_plddt), ptm: number(m.ptm, 3),
    iptm: number(m.iptm, 3), ipsae: number(m.interface?.ipsae, 3), pdockq2: number(m.interface?.pdockq2, 3),
    ranking_confidence: number(m.ranking_confidence, 3) })));
}

function interfaceTable(model) {
  const pairs = Object.entries(model.interface?.pairs || {});
  if (!pairs.length) return element("p", {}, "no interface scores");
  return table([["pair", "chains (from, to)"], ["ipsae", "ipSAE"], ["pdockq", "pDockQ"], ["pdockq2", "pDockQ2"],
    ["lis", "LIS"], ["interface_plddt", "interface pLDDT"], ["contacts", "contacts"], ["pae", "mean PAE (Å)"]],
  pairs.map(([pair, s]) => ({ pair, ipsae: number(s.ipsae, 3), pdockq: number(s.pdockq, 3),
    pdockq2: number(s.pdockq2, 3), lis: number(s.lis, 3), interface_plddt: number(s.interface_plddt),
    contacts: s.contacts, pae: number(model.chain_pair_pae?.[pair]) })));
}

function showModel(state, index) {
  const { data, viewer } = state;
  const model = data.models[index];
  state.model = model;
  if (viewer) drawModel(viewer, data, model);
  document.getElementById("model-label").textContent =
    `rank ${model.rank}: ${model.name}, seed ${model.seed}, mean pLDDT ${number(model.mean_plddt)}`;
  const pae = document.getElementById("pae-canvas");
  if (model.pae) drawPae(pae, data, model);
  pae.hidden = !model.pae;
  document.getElementById("plddt").replaceChildren(plddtChart(data, model));
  const interfaces = document.getElementById("interfaces");
  if (interfaces) interfaces.replaceChildren(interfaceTable(model));
}

function drawModel(viewer, data, model) {
  viewer.clear();
  viewer.addModel(model.structure, model.format);
  const byChain = document.getElementById("color-by").value === "chain";
  const chainIndex = Object.fromEntries(data.chains.map((c, i) => [c.id, i]));
  viewer.setStyle({}, { cartoon: { colorfunc: (atom) => (byChain
    ? CHAIN_COLORS[(chainIndex[atom.chain] ?? 0) % CHAIN_COLORS.length] : bandColor(atom.b)) } });
  if (data.demo_weights) { // random weights place residues far apart: no cartoon joins them, so mark each CA
    viewer.addStyle({ atom: "CA" }, { sphere: { radius: 1.5, colorfunc: (atom) => bandColor(atom.b) } });
  }
  viewer.zoomTo();
  viewer.render();
}

function build(data) {
  document.title = `${data.title}: alphafold-msa report`;
  const main = document.getElementById("report");
  if (data.demo_weights) main.append(element("p", { class: "warning" }, data.demo_weights));
  main.append(element("h1", {}, data.title));
  const summary = data.summary;
  main.append(element("p", {}, `${data.chains.length > 1 ? `complex of ${data.chains.length} chains, ` : ""}` +
    `${data.length} residues; alignment: ${summary.num_sequences ?? "?"} sequences, ` +
    `${summary.num_sequences_filtered ?? "?"} after filtering${summary.note ? `; ${summary.note}` : ""}`));
  const select = element("select", { id: "model" },
    ...data.models.map((m, i) => element("option", { value: String(i) }, `rank ${m.rank}: ${m.name} seed ${m.seed}`)));
  const colorBy = element("select", { id: "color-by" }, element("option", { value: "plddt" }, "colour by pLDDT"),
    element("option", { value: "chain" }, "colour by chain"));
  const legend = element("p", { class: "legend" }, ...BANDS.map(([floor, color], k) => element("span", {},
    element("i", { style: `background:${color}` }), ["very high (> 90)", "confident (70-90)", "low (50-70)",
      "very low (< 50)"][k])));
  main.append(element("div", { class: "controls" }, select, colorBy, element("span", { id: "model-label" })));
  const views = element("div", { class: "views" },
    element("div", { id: "viewer" }),
    element("figure", {}, element("canvas", { id: "pae-canvas" }), element("figcaption", { id: "pae-value" },
      "predicted aligned error: hover for a residue pair")));
  main.append(views, legend, element("h2", {}, "pLDDT per residue"), element("div", { id: "plddt" }));
  main.append(element("h2", {}, "Models"), scoresTable(data));
  if (data.ranked > data.models.length) {
    main.append(element("p", {}, `the top ${data.models.length} of ${data.ranked} ranked models; every one is in ` +
      "the folder (ranked_*.pdb, scores_rank_*.json)"));
  }
  if (data.chains.length > 1) main.append(element("h2", {}, "Interfaces (shown model)"), element("div", { id: "interfaces" }));
  if (data.ensemble) {
    // A state's representative among the ranked models is a link that shows it in the 3D view.
    const key = (m) => `${m.name}_seed_${String(m.seed).padStart(3, "0")}`;
    const states = table(
      [["state", "state"], ["size", "samples"], ["representative", "representative"],
        ["mean_tm", "mean TM-score within"]],
      data.ensemble.map((s) => ({ ...s, mean_tm: number(s.mean_tm, 3) })));
    for (const [row, state] of [...states.tBodies[0].rows].map((r, k) => [r, data.ensemble[k]])) {
      const index = data.models.findIndex((m) => key(m) === state.representative);
      if (index < 0) continue;
      const link = element("a", { href: "#", class: "show-model" }, state.representative);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        select.value = String(index);
        select.dispatchEvent(new Event("change"));
      });
      row.cells[2].replaceChildren(link);
    }
    main.append(element("h2", {}, "Structural states of the samples"), states);
  }
  if (data.coverage_png) {
    main.append(element("h2", {}, "Alignment coverage"),
      element("img", { src: `data:image/png;base64,${data.coverage_png}`, alt: "MSA coverage", class: "coverage" }));
  }
  // A batch's pages share ../report-viewer.js: a page moved out of its batch folder shows the rest without it.
  const viewer = typeof $3Dmol === "undefined" ? null
    : $3Dmol.createViewer(document.getElementById("viewer"), { backgroundColor: "white" });
  if (!viewer) {
    document.getElementById("viewer").append(element("p", { class: "warning" },
      "The 3D viewer, report-viewer.js in the batch's folder, is not beside this page's folder: open the page " +
      "inside its batch folder."));
  }
  const state = { data, viewer, model: null };
  select.addEventListener("change", () => showModel(state, Number(select.value)));
  colorBy.addEventListener("change", () => showModel(state, Number(select.value)));
  const pae = document.getElementById("pae-canvas");
  pae.addEventListener("mousemove", (event) => {
    document.getElementById("pae-value").textContent = paeAt(event, pae, data, state.model);
  });
  showModel(state, 0);
  return state;
}

async function renderedPixels(viewer) {
  const image = new Image();
  image.src = viewer.pngURI();
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  let coloured = 0;
  for (let k = 0; k < pixels.length; k += 4) {
    if (pixels[k] < 245 || pixels[k + 1] < 245 || pixels[k + 2] < 245) coloured++;
  }
  return { coloured, uri: image.src };
}

async function selftest(state) {
  const outcome = { models: state.data.models.length, viewer: Boolean(state.viewer) };
  const before = state.viewer ? await renderedPixels(state.viewer) : { coloured: 0, uri: "" };
  outcome.coloured_pixels = before.coloured;
  const select = document.getElementById("model");
  if (select.options.length > 1) {
    select.value = "1";
    select.dispatchEvent(new Event("change"));
    const after = state.viewer ? await renderedPixels(state.viewer) : before;
    outcome.switched = after.uri !== before.uri;
    outcome.label = document.getElementById("model-label").textContent;
  }
  const pae = document.getElementById("pae-canvas");
  if (!pae.hidden) {
    const box = pae.getBoundingClientRect();
    pae.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: box.left + box.width * 0.25,
      clientY: box.top + box.height * 0.75 }));
    outcome.pae_hover = document.getElementById("pae-value").textContent;
  }
  outcome.requests = performance.getEntriesByType("resource").map((entry) => entry.name);
  outcome.blocked = blocked;
  outcome.errors = problems;
  document.getElementById("selftest").textContent = JSON.stringify(outcome);
}

readData().then((data) => {
  const state = build(data);
  if (location.hash === "#selftest") return selftest(state);
  return null;
}).catch((error) => {
  problems.push(String(error));
  document.getElementById("report").append(element("p", { class: "warning" }, `the report could not be drawn: ${error}`));
  if (location.hash === "#selftest") document.getElementById("selftest").textContent = JSON.stringify({ errors: problems });
});
