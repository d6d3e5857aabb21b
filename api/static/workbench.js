// The relevance workbench: compare two configurations, judge results, evaluate, edit rules,
// synonyms and suggestions, see recommendations.
// Plain DOM code, no framework and nothing from outside this server.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const API = "/workbench/api";
const $ = (id) => document.getElementById(id);
const SIDES = ["a", "b"];
let lastCompare = null; // the last comparison shown, re-rendered when a judgment changes
let namedConfigurations = []; // search-evaluate's default configurations, offered for evaluation
let servingVersion = null;
let facetNames = []; // what the server counts, in the order shown
let attributeFilters = {}; // attribute name -> values chosen from its facet (any of them)

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function call(method, url, body) {
  const options = {method, credentials: "same-origin", headers: {"X-CSRF-Token": CSRF}};
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const isJson = (response.headers.get("Content-Type") || "").includes("json");
  const data = isJson ? await response.json() : await response.text();
  if (!response.ok) {
    const message = isJson && data.error ? data.error.message : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.className = isError ? "error" : "";
}

async function guarded(work) {
  try {
    await work();
  } catch (error) {
    say(error.message, true);
  }
}

const number = (value, digits = 3) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

// ---- options -------------------------------------------------------------------------

async function loadOptions() {
  const options = await call("GET", `${API}/options`);
  servingVersion = options.serving_version;
  $("serving").textContent = `serving ${options.serving_version}` +
    (options.personalization ? ` · preference model ${options.personalization}` : " · no preference model") +
    (options.ranker ? ` · relevance ranker ${options.ranker}` : " · no relevance ranker");
  for (const side of SIDES) {
    const versions = $(`${side}-version`);
    versions.replaceChildren(...options.versions.map((v) => element("option", {value: v.version},
      `${v.version}${v.serving ? " (serving)" : ""} · ${v.encoder} · ${v.products ?? "?"} products`)));
    versions.value = options.serving_version;
    $(`${side}-fusion`).value = options.defaults.fusion;
    $(`${side}-dense_weight`).value = options.defaults.dense_weight;
    $(`${side}-ranker`).disabled = !options.ranker;
    $(`${side}-ranker`).value = options.defaults.ranker ? "on" : "off";
    $(`${side}-user`).disabled = !options.personalization;
    if (!options.personalization) $(`${side}-user`).placeholder = "anonymous (no preference model)";
  }
  $("b-mode").value = "keyword"; // a useful first comparison: hybrid against plain BM25
  $("users").replaceChildren(...options.users.map((u) => element("option", {value: u.user}, `${u.events} events`)));
  namedConfigurations = options.named_configurations;
  $("named-list").textContent = namedConfigurations.join(", ");
  facetNames = options.facets;
  $("sort").replaceChildren(...options.sorts.map((sort) => element("option", {value: sort}, sort.replaceAll("_", " "))));
}

function configuration(side) {
  return {
    name: side.toUpperCase(),
    mode: $(`${side}-mode`).value,
    fusion: $(`${side}-fusion`).value,
    dense_weight: $(`${side}-dense_weight`).value,
    version: $(`${side}-version`).value,
    user: $(`${side}-user`).value,
    ranker: $(`${side}-ranker`).value === "on" && $(`${side}-mode`).value === "hybrid",  // it ranks hybrid candidates
  };
}

function describe(config) {
  const fusion = config.mode === "hybrid" ? ` ${config.fusion}${config.fusion === "linear" ? ` ${config.dense_weight}` : ""}` : "";
  return `${config.mode}${fusion}${config.ranker ? " · ranker" : ""}${config.user ? ` · for ${config.user}` : ""}`;
}

// ---- compare -------------------------------------------------------------------------

const FORM_FIELDS = ["q", "brand", "category", "price_min", "price_max", "k", "sort"];
const CONFIG_FIELDS = ["mode", "fusion", "dense_weight", "version", "ranker", "user"];

function rememberInUrl() {
  const params = new URLSearchParams();
  for (const field of FORM_FIELDS) if ($(field).value) params.set(field, $(field).value);
  for (const side of SIDES) for (const field of CONFIG_FIELDS) {
    if ($(`${side}-${field}`).value) params.set(`${side}.${field}`, $(`${side}-${field}`).value);
  }
  if (Object.keys(attributeFilters).length) params.set("attr", JSON.stringify(attributeFilters));
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function restoreFromUrl() {
  const params = new URLSearchParams(location.search);
  for (const field of FORM_FIELDS) if (params.has(field)) $(field).value = params.get(field);
  for (const side of SIDES) for (const field of CONFIG_FIELDS) {
    const value = params.get(`${side}.${field}`);
    // A version pruned since the link was made is left at the serving one.
    if (value !== null && (field !== "version" || [...$(`${side}-version`).options].some((o) => o.value === value))) {
      $(`${side}-${field}`).value = value;
    }
  }
  try {
    attributeFilters = JSON.parse(params.get("attr") || "{}");
  } catch (error) {
    attributeFilters = {};
  }
  return params.has("q");
}

const listed = (text) => text.split(",").map((v) => v.trim()).filter(Boolean);

async function compare() {
  const body = {q: $("q").value, k: Number($("k").value || 10), sort: $("sort").value, attr: attributeFilters,
    a: configuration("a"), b: configuration("b")};
  for (const field of ["brand", "category"]) body[field] = listed($(field).value);
  for (const field of ["price_min", "price_max"]) {
    if ($(field).value.trim()) body[field] = $(field).value.trim();
  }
  say("Searching…");
  lastCompare = await call("POST", `${API}/compare`, body);
  lastCompare.configs = {a: body.a, b: body.b};
  rememberInUrl();
  renderCompare();
  say("");
}

function renderCompare() {
  const data = lastCompare;
  const change = Object.fromEntries(data.changes.map((c) => [c.id, c]));
  const counts = {up: 0, down: 0, same: 0, new: 0, dropped: 0};
  data.changes.forEach((c) => counts[c.status]++);
  $("changes-summary").textContent = `“${data.query}”: B against A: ${counts.up} moved up, ${counts.down} moved down, ` +
    `${counts.new} new, ${counts.dropped} dropped, ${counts.same} unchanged.`;
  for (const side of SIDES) {
    $(`${side}-describe`).textContent = `${describe(data.configs[side])} · ${data[side].total} ` +
      (data[side].match === "nearest" ? "nearest products (nothing matched)" : "matching products") +
      (data[side].ignored.length ? ` · its version lacks ${data[side].ignored.join(", ")}` : "") +
      (data[side].personalized_by ? ` · personalized by ${data[side].personalized_by}` :
        data.configs[side].user ? " · not personalized (unknown shopper or no model)" : "");
    $(`results-${side}`).replaceChildren(...data[side].results.map((hit) => card(hit, side, change[hit.id], data.judgments[hit.id])));
  }
  renderFacets(data.a.facets || {});
  $("results").hidden = false;
  renderMarks();
}

// ---- facets --------------------------------------------------------------------------

function chosen(name) {
  if (name === "brand" || name === "category") return listed($(name).value);
  return attributeFilters[name.slice("attr.".length)] || [];
}

function toggle(name, value) {
  const values = chosen(name);
  const next = values.some((v) => v.toLowerCase() === value.toLowerCase())
    ? values.filter((v) => v.toLowerCase() !== value.toLowerCase()) : [...values, value];
  if (name === "brand" || name === "category") $(name).value = next.join(", ");
  else if (next.length) attributeFilters[name.slice("attr.".length)] = next;
  else delete attributeFilters[name.slice("attr.".length)];
}

function choosePriceBucket(bucket) {
  const same = $("price_min").value === String(bucket.from) && $("price_max").value === String(bucket.to ?? "");
  $("price_min").value = same ? "" : bucket.from;
  $("price_max").value = same || bucket.to === null ? "" : bucket.to;
}

function renderFacets(facets) {
  const label = (name) => ({brand: "Brand", category: "Type", price: "Price"})[name] || name.slice("attr.".length).replaceAll("_", " ");
  const boxes = facetNames.filter((name) => facets[name]).map((name) => {
    const facet = facets[name];
    let entries;
    if (facet.type === "values") {
      const selected = chosen(name).map((v) => v.toLowerCase());
      entries = facet.values.map((v) => element("button", {type: "button", "data-facet": name, "data-value": v.value,
        class: selected.includes(v.value.toLowerCase()) ? "selected" : "",
        onclick: () => guarded(async () => { toggle(name, v.value); await compare(); })},
      `${v.value} `, element("span", {class: "count"}, `(${v.count})`)));
      if (facet.other_values) entries.push(element("span", {class: "count"}, `+${facet.other_values} more`));
    } else {
      entries = facet.buckets.map((b) => element("button", {type: "button", "data-facet": name,
        onclick: () => guarded(async () => { choosePriceBucket(b); await compare(); })},
      `${b.to === null ? `${b.from} and up` : `${b.from} – ${b.to}`} `, element("span", {class: "count"}, `(${b.count})`)));
    }
    return element("div", {class: "facet"}, element("h4", {}, label(name)), entries);
  });
  $("facets").replaceChildren(...boxes);
  $("attribute-filters").replaceChildren(...Object.entries(attributeFilters).map(([name, values]) =>
    element("button", {type: "button", class: "chip", title: "remove this filter",
      onclick: () => guarded(async () => { delete attributeFilters[name]; await compare(); })},
    `${name.replaceAll("_", " ")}: ${values.join(" or ")} ✕`)));
}

function changeBadge(side, change) {
  if (!change) return null;
  if (side === "a") return change.status === "dropped" ? element("span", {class: "change dropped"}, "not in B") : null;
  const text = {up: `▲ ${change.moved}`, down: `▼ ${-change.moved}`, new: "new in B", same: "="}[change.status];
  return element("span", {class: `change ${change.status}`, title: change.a ? `#${change.a} in A` : "not in A"}, text);
}

function scores(explain) {
  const cell = (label, stage) => stage && stage.score !== null && stage.score !== undefined
    ? element("span", {class: "score"}, `${label} ${number(stage.score)} (#${stage.rank})`)
    : element("span", {class: "score missing"}, `${label} –`);
  const parts = [cell("dense", explain.dense), cell("keyword", explain.keyword), cell("fused", explain.fused)];
  // The bias and the unpersonalized order's part are not features: the strongest features are what moved it.
  const strongest = (contributions) => Object.entries(contributions || {})
    .filter(([name]) => name !== "bias" && name !== "unpersonalized_order")
    .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1])).slice(0, 3)
    .map(([name, value]) => `${name} ${value > 0 ? "+" : ""}${number(value, 2)}`).join(", ");
  if (explain.relevance) {
    parts.push(element("span", {class: "score", title: strongest(explain.relevance.contributions)},
      `ranker ${number(explain.relevance.score)} (#${explain.relevance.rank})`));
  }
  if (explain.personalization) {
    parts.push(element("span", {class: "score", title: strongest(explain.personalization.contributions)},
      `personal ${number(explain.personalization.score)}`));
  }
  return element("div", {class: "scores"}, parts);
}

function card(hit, side, change, grade) {
  const grades = [0, 1, 2, 3].map((g) => element("button", {
    type: "button", class: grade === g ? "grade selected" : "grade", "data-grade": g,
    title: ["irrelevant", "somewhat relevant", "relevant", "exactly right"][g],
    onclick: () => guarded(() => judge(hit.id, g, lastCompare.configs[side].version)),
  }, g));
  const price = hit.price === null || hit.price === undefined ? "no price" : number(hit.price, 2);
  return element("li", {class: "card", "data-id": hit.id},
    element("div", {class: "head"},
      element("span", {class: "rank"}, hit.rank), element("span", {class: "title"}, hit.title), changeBadge(side, change)),
    element("div", {class: "meta"}, `${hit.brand || "no brand"} · ${hit.category || "no type"} · ${price} · id ${hit.id}`),
    scores(hit.explain),
    (hit.explain.merchandising || []).map((rule) => element("div", {class: "rule-note"}, rule)),
    element("div", {class: "actions"}, element("span", {}, "judge"), grades,
      // Rules act on the serving version: a product only a staged version has cannot be pinned yet.
      (lastCompare.configs[side].version || servingVersion) === servingVersion
        ? element("button", {type: "button", class: "pin", onclick: () => startPin(hit.id, hit.rank)}, "pin…") : null));
}

async function judge(productId, rating, version) {
  await call("POST", `${API}/judgments`, {query: lastCompare.query, product_id: productId, rating, version});
  lastCompare.judgments[productId] = rating;
  renderCompare();
  await loadJudgments();
  say(`Marked ${productId} as ${rating} for “${lastCompare.query}”.`);
}

// ---- judgments -----------------------------------------------------------------------

async function loadJudgments() {
  const data = await call("GET", `${API}/judgments`);
  $("judgment-count").textContent = `${data.total} judgments stored for ${data.queries.length} queries.`;
  $("judged-queries").tBodies[0].replaceChildren(...data.queries.map((row) => element("tr", {},
    element("td", {}, element("button", {type: "button", class: "link", onclick: () => guarded(() => searchFor(row.query))},
      row.query)),
    element("td", {}, row.judged))));
}

function renderMarks() {
  // The current query's marks, including products the two lists do not show.
  const marks = lastCompare ? Object.entries(lastCompare.judgments) : [];
  $("marks-title").textContent = lastCompare ? `Marks for “${lastCompare.query}”` : "Marks";
  const titles = lastCompare ? {...lastCompare.judged_titles} : {};
  if (lastCompare) for (const side of SIDES) for (const hit of lastCompare[side].results) titles[hit.id] = hit.title;
  $("marks").tBodies[0].replaceChildren(...marks.map(([productId, rating]) => element("tr", {"data-id": productId},
    element("td", {}, productId), element("td", {}, titles[productId] || "(not in the serving catalog)"),
    element("td", {}, rating),
    element("td", {}, element("button", {type: "button", class: "forget",
      onclick: () => guarded(() => forget(productId))}, "forget")))));
}

async function forget(productId) {
  await call("DELETE", `${API}/judgments`, {query: lastCompare.query, product_id: productId});
  delete lastCompare.judgments[productId];
  renderCompare();
  await loadJudgments();
  say(`Forgot the mark on ${productId} for “${lastCompare.query}”.`);
}

async function searchFor(query) {
  $("q").value = query;
  await compare();
  $("results").scrollIntoView();
}

async function importJudgments() {
  const file = $("import-file").files[0];
  if (!file) throw new Error("Choose a CSV file to import first.");
  const form = new FormData();
  form.append("file", file);
  const data = await call("POST", `${API}/judgments.csv`, form);
  await loadJudgments();
  if (lastCompare) await compare();
  const unknown = data.unknown_product_count
    ? ` ${data.unknown_product_count} of the products they name are not in the serving catalog`
      + ` (${data.unknown_products.join(", ")}${data.unknown_product_count > data.unknown_products.length ? ", …" : ""}):`
      + " judged on a staged version, deleted since, or ids changed on the way (a spreadsheet drops leading zeros)."
    : "";
  say(`Imported ${data.imported} judgments.${unknown}`);
}

// ---- evaluation ----------------------------------------------------------------------

async function runEvaluation() {
  const configurations = [configuration("a"), configuration("b")];
  if ($("eval-named").checked) configurations.push(...namedConfigurations);
  say("Evaluating…");
  const data = await call("POST", `${API}/evaluate`, {configurations});
  $("eval-summary").textContent = `${data.queries} judged queries; A = ${describe(configurations[0])}, B = ${describe(configurations[1])}.`;
  $("eval-table").tBodies[0].replaceChildren(...data.table.map((row) => element("tr", {},
    element("td", {}, row.name), element("td", {}, number(row["ndcg@10"], 4)),
    element("td", {}, number(row["recall@100"], 4)), element("td", {}, number(row.mrr, 4)),
    element("td", {}, number(row["judged_ndcg@10"], 4)), element("td", {}, number(row["judged@10"], 2)))));
  showUnjudged(data.unjudged);
  const item = (row) => element("li", {}, `${row.query}: ${number(row.a)} → ${number(row.b)} (${row.delta > 0 ? "+" : ""}${number(row.delta)})`);
  $("eval-better").replaceChildren(...data.better.map(item));
  $("eval-worse").replaceChildren(...data.worse.map(item));
  $("plot").replaceChildren(scatter(data.per_query));
  $("eval-result").hidden = false;
  say("");
}

function csvField(value) {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function showUnjudged(rows) {
  // What to judge next: the judgment-list CSV search-evaluate --unjudged writes, ratings left empty.
  const link = $("eval-unjudged-csv");
  if (link.href) URL.revokeObjectURL(link.href);
  const queries = new Set(rows.map((row) => row.query)).size;
  $("eval-unjudged-count").textContent = rows.length
    ? `${rows.length} products in these top 10s (${queries} queries) are not judged yet and count as not relevant.`
    : "Every product in these top 10s is judged.";
  link.hidden = !rows.length;
  const lines = [["query", "docid", "rating", "title", "found_by"],
    ...rows.map((row) => [row.query, row.product_id, "", row.title, row.found_by.join(" ")])];
  link.href = URL.createObjectURL(new Blob([lines.map((line) => line.map(csvField).join(",")).join("\r\n") + "\r\n"],
    {type: "text/csv"}));
}

function canvas(width, height) {
  // An SVG of this size and a function that draws one element into it.
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  const draw = (tag, attributes, text, parent = svg) => {
    const node = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    parent.append(node);
    return node;
  };
  return [svg, draw];
}

function scatter(rows) {
  // Per-query nDCG@10: A across, B up; above the diagonal B did better.
  const size = 300, pad = 36;
  const [svg, draw] = canvas(size, size);
  const x = (v) => pad + v * (size - 2 * pad), y = (v) => size - pad - v * (size - 2 * pad);
  draw("rect", {x: pad, y: pad, width: size - 2 * pad, height: size - 2 * pad, class: "frame"});
  draw("line", {x1: x(0), y1: y(0), x2: x(1), y2: y(1), class: "diagonal"});
  for (const tick of [0, 0.5, 1]) {
    draw("text", {x: x(tick), y: size - pad + 14, "text-anchor": "middle"}, tick);
    draw("text", {x: pad - 6, y: y(tick) + 4, "text-anchor": "end"}, tick);
  }
  draw("text", {x: size / 2, y: size - 4, "text-anchor": "middle"}, "A nDCG@10");
  draw("text", {x: 12, y: size / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${size / 2})`}, "B nDCG@10");
  for (const row of rows) {
    const kind = row.delta > 0 ? "better" : row.delta < 0 ? "worse" : "same";
    const point = draw("circle", {cx: x(row.a ?? 0), cy: y(row.b ?? 0), r: 4, class: `point ${kind}`});
    draw("title", {}, `${row.query}: A ${number(row.a)}, B ${number(row.b)}`, point);
  }
  return svg;
}

// ---- merchandising rules -------------------------------------------------------------

async function loadRules() {
  const data = await call("GET", "/admin/rules");
  $("rules-table").tBodies[0].replaceChildren(...data.rules.map((rule) => element("tr", {"data-rule": rule.id},
    element("td", {}, rule.id), element("td", {}, rule.query), element("td", {}, rule.match),
    element("td", {}, rule.action),
    element("td", {}, rule.action === "pin" ? rule.product_id : [rule.brand, rule.category].filter(Boolean).join(" / ")),
    element("td", {}, rule.position ?? ""),
    element("td", {},
      element("button", {type: "button", class: "edit", onclick: () => editRule(rule)}, "edit"),
      element("button", {type: "button", class: "delete", onclick: () => guarded(() => deleteRule(rule.id))}, "delete")))));
}

function showRuleFields() {
  const pin = $("rule-action").value === "pin";
  document.querySelectorAll("#rule-form .pin-only").forEach((n) => { n.hidden = !pin; });
  document.querySelectorAll("#rule-form .group-only").forEach((n) => { n.hidden = pin; });
}

function fillRuleForm(rule) {
  $("rule-id").value = rule.id ?? "";
  $("rule-query").value = rule.query ?? "";
  $("rule-match").value = rule.match ?? "exact";
  $("rule-action").value = rule.action ?? "pin";
  $("rule-product").value = rule.product_id ?? "";
  $("rule-position").value = rule.position ?? 1;
  $("rule-brand").value = rule.brand ?? "";
  $("rule-category").value = rule.category ?? "";
  $("rule-save").textContent = rule.id ? `Save rule ${rule.id}` : "Add rule";
  $("rule-cancel").hidden = !rule.id;
  showRuleFields();
}

function editRule(rule) {
  fillRuleForm(rule);
  $("rule-query").focus();
}

function startPin(productId, rank) {
  fillRuleForm({query: lastCompare.query, action: "pin", product_id: productId, position: rank});
  $("rule-position").focus();
  $("rules").scrollIntoView();
}

async function saveRule() {
  const action = $("rule-action").value;
  const rule = {query: $("rule-query").value, match: $("rule-match").value, action};
  if (action === "pin") {
    rule.product_id = $("rule-product").value.trim();
    rule.position = Number($("rule-position").value);
  } else {
    rule.brand = $("rule-brand").value.trim();
    rule.category = $("rule-category").value.trim();
  }
  const id = $("rule-id").value;
  const saved = await call(id ? "PUT" : "POST", id ? `/admin/rules/${id}` : "/admin/rules", rule);
  fillRuleForm({});
  await loadRules();
  if (lastCompare) await compare();
  say(`Saved rule ${saved.id}.`);
}

async function deleteRule(id) {
  await call("DELETE", `/admin/rules/${id}`);
  await loadRules();
  if (lastCompare) await compare();
  say(`Deleted rule ${id}.`);
}

// ---- search analytics ----------------------------------------------------------------

function dailyChart(days) {
  // Searches per day as a line (hover a point for the day's click-through and revenue).
  const width = 460, height = 200, pad = 36;
  const [svg, draw] = canvas(width, height);
  const most = Math.max(1, ...days.map((d) => d.searches));
  const x = (i) => pad + (days.length > 1 ? i / (days.length - 1) : 0.5) * (width - 2 * pad);
  const y = (v) => height - pad - (v / most) * (height - 2 * pad);
  draw("rect", {x: pad, y: pad, width: width - 2 * pad, height: height - 2 * pad, class: "frame"});
  draw("polyline", {points: days.map((d, i) => `${x(i)},${y(d.searches)}`).join(" "), class: "series"});
  days.forEach((d, i) => {
    const point = draw("circle", {cx: x(i), cy: y(d.searches), r: 3, class: "point same"});
    draw("title", {}, `${d.day}: ${d.searches} searches, CTR ${number(d.click_through_rate)}, revenue ${number(d.revenue, 2)}`, point);
  });
  draw("text", {x: pad - 6, y: y(most) + 4, "text-anchor": "end"}, most);
  draw("text", {x: pad - 6, y: y(0) + 4, "text-anchor": "end"}, 0);
  if (days.length) {
    draw("text", {x: x(0), y: height - pad + 14, "text-anchor": "start"}, days[0].day);
    draw("text", {x: x(days.length - 1), y: height - pad + 14, "text-anchor": "end"}, days[days.length - 1].day);
  }
  return svg;
}

function queryBars(rows) {
  // The top queries' searches as bars, labelled with their click-through.
  const width = 460, bar = 18, label = 150;
  const [svg, draw] = canvas(width, Math.max(bar, rows.length * bar) + 4);
  const most = Math.max(1, ...rows.map((r) => r.searches));
  rows.forEach((r, i) => {
    draw("text", {x: label - 6, y: i * bar + 13, "text-anchor": "end"}, r.query.slice(0, 24));
    const length = (r.searches / most) * (width - label - 90);
    draw("rect", {x: label, y: i * bar + 3, width: Math.max(length, 1), height: bar - 6, class: "bar"});
    draw("text", {x: label + length + 4, y: i * bar + 13}, `${r.searches} · CTR ${number(r.click_through_rate, 2)}`);
  });
  return svg;
}

async function showAnalytics() {
  const params = new URLSearchParams();
  if ($("analytics-from").value) params.set("from", $("analytics-from").value);
  if ($("analytics-to").value) params.set("to", $("analytics-to").value);
  const data = await call("GET", `/admin/analytics?${params}`);
  $("analytics-csv").href = `/admin/analytics?${params}&format=csv`;
  const summary = [["days", `${data.start} to ${data.end}`], ["searches", data.searches], ["shoppers", data.shoppers],
    ["zero results", number(data.zero_result_rate)], ["click-through", number(data.click_through_rate)],
    ["add to cart", number(data.add_to_cart_rate)], ["purchases", number(data.purchase_rate)],
    ["revenue", number(data.revenue, 2)], ["mean clicked position", number(data.mean_clicked_position, 2)]];
  $("analytics-summary").tBodies[0].replaceChildren(...summary.map(([name, value]) =>
    element("tr", {"data-figure": name}, element("th", {}, name), element("td", {}, value))));
  $("analytics-daily").replaceChildren(dailyChart(data.daily));
  $("analytics-top").replaceChildren(queryBars(data.top_queries.slice(0, 15)));
  const list = (id, rows, text) => $(id).replaceChildren(...rows.slice(0, 10).map((r) => element("li", {}, text(r))));
  list("analytics-zero", data.top_zero_result_queries, (r) => `${r.query} (${r.zero_results} of ${r.searches})`);
  list("analytics-noclick", data.top_queries_without_clicks, (r) => `${r.query} (${r.searches})`);
  list("analytics-falling", data.falling_click_through,
    (r) => `${r.query}: ${number(r.before, 2)} → ${number(r.click_through_rate, 2)}`);
  $("analytics-result").hidden = false;
  say(`Analytics for ${data.start} to ${data.end}: ${data.searches} searches.`);
}

// ---- experiments ---------------------------------------------------------------------

const when = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ");

async function loadExperiments() {
  const data = await call("GET", "/admin/experiments");
  $("experiments-table").tBodies[0].replaceChildren(...data.experiments.map((e) => element("tr", {"data-experiment": e.id},
    element("td", {}, e.id), element("td", {}, e.name), element("td", {}, e.kind),
    element("td", {}, e.variants.map((v) => v.share ? `${v.name} (${number(v.share, 2)})` : v.name).join(", ")),
    element("td", {}, e.status), element("td", {}, when(e.start)), element("td", {}, when(e.stop)),
    element("td", {},
      element("button", {type: "button", class: "results", onclick: () => guarded(() => showExperiment(e))}, "results"),
      e.status === "running" ? element("button", {type: "button", class: "stop",
        onclick: () => guarded(() => stopExperiment(e.id))}, "stop") : "",
      element("button", {type: "button", class: "delete", onclick: () => guarded(() => deleteExperiment(e.id))}, "delete")))));
}

async function saveExperiment() {
  let definition;
  try {
    definition = JSON.parse($("experiment-definition").value);
  } catch (error) {
    throw new Error(`the definition is not JSON: ${error.message}`);
  }
  const saved = await call("POST", "/admin/experiments", definition);
  await loadExperiments();
  say(`Experiment ${saved.id} is ${saved.status}.${saved.warnings.map((w) => ` Note: ${w}.`).join("")}`);
}

async function stopExperiment(id) {
  await call("POST", `/admin/experiments/${id}/stop`);
  await loadExperiments();
  say(`Stopped experiment ${id}.`);
}

async function deleteExperiment(id) {
  if (!window.confirm(`Delete experiment ${id} and its results page? Its logged searches stay in the event store.`)) return;
  await call("DELETE", `/admin/experiments/${id}`);
  await loadExperiments();
  $("experiment-result").hidden = true;
  say(`Deleted experiment ${id}.`);
}

const interval = (pair, digits = 3) => pair ? `[${number(pair[0], digits)}, ${number(pair[1], digits)}]` : "";

function intervalChart(rows) {
  // Each row's value as a dot with its interval as a bar; the line marks zero difference.
  const width = 420, row = 26, label = 130, pad = 14;
  const [svg, draw] = canvas(width, rows.length * row + 2 * pad);
  const bounds = rows.flatMap((r) => r.interval ?? [r.value]).concat([0]).filter((v) => v !== null && v !== undefined);
  const low = Math.min(...bounds), high = Math.max(...bounds), span = high - low || 1;
  const x = (v) => label + ((v - low) / span) * (width - label - pad);
  draw("line", {x1: x(0), y1: 0, x2: x(0), y2: rows.length * row + 2 * pad, class: "diagonal"});
  rows.forEach((r, i) => {
    const y = pad + i * row + row / 2;
    draw("text", {x: label - 6, y: y + 4, "text-anchor": "end"}, r.name);
    if (r.interval) draw("line", {x1: x(r.interval[0]), y1: y, x2: x(r.interval[1]), y2: y, class: "series"});
    if (r.value !== null && r.value !== undefined) {
      const dot = draw("circle", {cx: x(r.value), cy: y, r: 4, class: `point ${r.kind ?? "same"}`});
      draw("title", {}, `${r.name}: ${number(r.value)} ${interval(r.interval)}`, dot);
    }
  });
  return svg;
}

async function showExperiment(experiment) {
  const data = await call("GET", `/admin/experiments/${experiment.id}/results`);
  $("experiment-title").textContent = `${experiment.name} (${data.status}; ${data.test}, alpha ${data.alpha})`;
  const figures = $("experiment-figures");
  const cell = (text) => element("td", {}, text);
  const verdictKind = (c) => !c.significant ? "same" : c.interval[0] > 0 ? "better" : "worse";
  if (data.kind === "ab") {
    figures.tHead.replaceChildren(element("tr", {}, ...["variant", "shoppers", "searches", "CTR", "conversion",
      "revenue / search", `${data.metric} against control`, "p (always valid)", "verdict", "more shoppers needed"]
      .map((h) => element("th", {}, h))));
    figures.tBodies[0].replaceChildren(...data.variants.map((v) => {
      const c = v.against_control ?? {};
      const metric = (m, digits = 3) => `${number(v.metrics[m].value, digits)} ${interval(v.metrics[m].interval, digits)}`;
      return element("tr", {"data-variant": v.name}, cell(v.name), cell(v.units), cell(v.searches), cell(metric("ctr")),
        cell(metric("conversion")), cell(metric("revenue_per_search", 2)),
        cell(c.difference === undefined ? "" : `${number(c.difference, 4)} ${interval(c.interval, 4)}`),
        cell(c.p_value === undefined ? "" : number(c.p_value, 4)), cell(c.verdict ?? "control"),
        cell(c.more_units_needed ?? ""));
    }));
    $("experiment-chart").replaceChildren(intervalChart(data.variants.slice(1).map((v) => ({
      name: `${v.name} − control`, value: v.against_control.difference ?? null,
      interval: v.against_control.interval, kind: verdictKind(v.against_control)}))));
  } else {
    figures.tHead.replaceChildren(element("tr", {}, ...["credited by", "searches credited",
      `preference (+ ${data.teams.b}, − ${data.teams.a})`, "p (always valid)", "verdict", "more shoppers needed"]
      .map((h) => element("th", {}, h))));
    figures.tBodies[0].replaceChildren(...["clicks", "purchases"].map((name) => {
      const p = data[name];
      return element("tr", {"data-credit": name}, cell(name), cell(p.searches_credited),
        cell(`${number(p.preference, 3)} ${interval(p.interval)}`), cell(p.p_value === undefined ? "" : number(p.p_value, 4)),
        cell(p.verdict), cell(p.more_units_needed ?? ""));
    }));
    $("experiment-chart").replaceChildren(intervalChart(["clicks", "purchases"].map((name) => ({
      name, value: data[name].preference, interval: data[name].interval, kind: verdictKind(data[name])}))));
  }
  $("experiment-result").hidden = false;
  say(`Results of experiment ${experiment.id}.`);
}

// ---- synonyms ------------------------------------------------------------------------

async function loadSynonyms() {
  const data = await call("GET", "/admin/synonyms");
  $("synonyms-table").tBodies[0].replaceChildren(...data.rules.map((rule) => element("tr", {"data-synonym": rule.id},
    element("td", {}, rule.id ?? ""), element("td", {}, rule.text), element("td", {}, rule.kind),
    element("td", {}, rule.source),
    element("td", {}, rule.id === null ? "" : element("button", {type: "button", class: "delete",
      onclick: () => guarded(() => deleteSynonym(rule.id))}, "delete")))));
}

async function saveSynonym() {
  const saved = await call("POST", "/admin/synonyms", {text: $("synonym-text").value});
  $("synonym-text").value = "";
  await loadSynonyms();
  if (lastCompare) await compare();
  say(`Added synonym rule ${saved.id} (${saved.kind}).`);
}

async function deleteSynonym(id) {
  await call("DELETE", `/admin/synonyms/${id}`);
  await loadSynonyms();
  if (lastCompare) await compare();
  say(`Deleted synonym rule ${id}.`);
}

// ---- suggestions ---------------------------------------------------------------------

let suggestRequest = 0; // only the latest keystroke's answer is shown

async function showSuggestions() {
  const q = $("suggest-q").value;
  const mine = ++suggestRequest;
  if (!q.trim()) {
    $("suggest-list").replaceChildren();
    $("suggest-leads").textContent = "";
    return;
  }
  const data = await call("GET", `/suggest?${new URLSearchParams({q, k: 8})}`);
  if (mine !== suggestRequest) return;
  $("suggest-list").replaceChildren(...data.suggestions.map((s) => element("li", {"data-suggestion": s.text},
    element("span", {class: s.pinned ? "pinned" : ""}, s.text),
    element("small", {}, ` ${s.pinned ? "pinned" : `score ${number(s.score, 2)}`}${s.typos ? `, ${s.typos} typo` : ""}`),
    element("button", {type: "button", class: "block", onclick: () => guarded(() => addSuggestionRule(s.text, "block", "exact"))}, "block"),
    element("button", {type: "button", class: "pin", onclick: () => guarded(() => addSuggestionRule(s.text, "pin", "exact"))}, "pin"))));
  const products = data.products.map((p) => p.title).join(" · ");
  const categories = data.categories.map((c) => `${c.value} (${c.count})`).join(", ");
  $("suggest-leads").textContent = data.leads_to ? `“${data.leads_to}”: ${products || "no products"}; types: ${categories || "none"}` : "";
}

async function loadSuggestionRules() {
  const data = await call("GET", "/admin/suggestions/rules");
  $("suggestion-rules-table").tBodies[0].replaceChildren(...data.rules.map((rule) => element("tr", {"data-suggestion-rule": rule.id},
    element("td", {}, rule.id), element("td", {}, rule.text), element("td", {}, rule.action), element("td", {}, rule.match),
    element("td", {}, element("button", {type: "button", class: "delete",
      onclick: () => guarded(() => deleteSuggestionRule(rule.id))}, "delete")))));
}

async function addSuggestionRule(text, action, match) {
  const saved = await call("POST", "/admin/suggestions/rules", {text, action, match});
  await loadSuggestionRules();
  await showSuggestions();
  say(`Suggestion rule ${saved.id}: ${saved.action} “${saved.text}”.`);
}

async function deleteSuggestionRule(id) {
  await call("DELETE", `/admin/suggestions/rules/${id}`);
  await loadSuggestionRules();
  await showSuggestions();
  say(`Deleted suggestion rule ${id}.`);
}

// ---- recommendations -----------------------------------------------------------------

function recommendationItems(results) {
  return results.map((r) => element("li", {"data-recommended": r.id},
    element("span", {}, `${r.title} `), element("small", {}, `${r.brand || ""} · ${r.category || "no type"} · ${r.id}`),
    element("ul", {class: "reasons"}, ...(r.explain ? r.explain.reasons : []).map((reason) => element("li", {}, reason)))));
}

async function showRecommendations() {
  const user = $("recommend-user").value.trim();
  const product = $("recommend-product").value.trim();
  const category = $("recommend-category").value.trim();
  const common = {k: 10, explain: "true", ...(category ? {category} : {})};
  const forYou = await call("GET", `/recommendations/for-you?${new URLSearchParams({...common, ...(user ? {user} : {})})}`);
  $("for-you-source").textContent = forYou.source === "history" ? `from ${user}'s history` : "trending (no history)";
  $("for-you-list").replaceChildren(...recommendationItems(forYou.results));
  const trending = await call("GET", `/recommendations/trending?${new URLSearchParams(common)}`);
  $("trending-list").replaceChildren(...recommendationItems(trending.results));
  if (product) {
    const together = await call("GET", `/products/${encodeURIComponent(product)}/bought-together?${new URLSearchParams(common)}`);
    $("bought-together-list").replaceChildren(...recommendationItems(together.results));
  } else {
    $("bought-together-list").replaceChildren(element("li", {}, "Give a product id."));
  }
  say(`Recommendations from index version ${forYou.version}.`);
}

// ---- wiring --------------------------------------------------------------------------

function on(id, event, work) {
  $(id).addEventListener(event, (e) => {
    e.preventDefault();
    guarded(work);
  });
}

on("search-form", "submit", compare);
on("import-form", "submit", importJudgments);
on("evaluate-form", "submit", runEvaluation);
on("rule-form", "submit", saveRule);
on("rule-cancel", "click", async () => fillRuleForm({}));
$("rule-action").addEventListener("change", showRuleFields);
on("synonym-form", "submit", saveSynonym);
on("analytics-form", "submit", showAnalytics);
on("experiment-form", "submit", saveExperiment);
on("suggestion-rule-form", "submit", async () => {
  await addSuggestionRule($("suggestion-rule-text").value, $("suggestion-rule-action").value, $("suggestion-rule-match").value);
  $("suggestion-rule-text").value = "";
});
$("suggest-q").addEventListener("input", () => guarded(showSuggestions));
on("recommend-form", "submit", showRecommendations);

guarded(async () => {
  await loadOptions();
  showRuleFields();
  await Promise.all([loadRules(), loadJudgments(), loadSynonyms(), loadSuggestionRules(), loadExperiments()]);
  if (restoreFromUrl()) await compare();
  document.body.dataset.ready = "true"; // for the browser tests: options loaded, first search done
});
