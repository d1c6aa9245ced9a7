// The status page: polls /api/status (with the page's filters) and redraws. No libraries.
"use strict";

const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const QUERY = new URLSearchParams(window.location.search);

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "--:--";
  const s = Math.round(seconds), m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

// A duration as people say it: 45 s, 12 min, 5.5 h, 32.0 d.
function ago(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Rows loaded per hour as bars (failed files as a red mark on their hour).
function chart(hours) {
  const box = document.getElementById("chart");
  if (!hours) {
    box.replaceChildren(el("p", "unknown: the database has not answered", { class: "muted" }));
    return;
  }
  const width = 720, height = 140, left = 60, bottom = 20, slot = (width - left) / hours.length;
  const top = Math.max(1, ...hours.map((h) => h.rows));
  const picture = svg("svg", { id: "throughput", viewBox: `0 0 ${width} ${height}`, width, height,
    role: "img", "aria-label": "rows loaded per hour" });
  picture.append(svg("text", { x: 0, y: 12, class: "axis" }, `${top.toLocaleString("en")} rows`));
  picture.append(svg("text", { x: 0, y: height - bottom, class: "axis" }, "0"));
  hours.forEach((h, i) => {
    const tall = Math.round((height - bottom - 16) * h.rows / top);
    const bar = svg("rect", { x: left + i * slot + 1, y: height - bottom - tall, width: slot - 2, height: tall,
      class: "bar", "data-hour": h.hour, "data-rows": h.rows, "data-files": h.files, "data-failed": h.failed });
    bar.append(svg("title", {}, `${h.hour} UTC: ${h.rows.toLocaleString("en")} rows in ${h.files} file(s), ` +
      `${h.failed} failed`));
    picture.append(bar);
    if (h.failed) picture.append(svg("rect", { x: left + i * slot + 1, y: height - bottom + 2, width: slot - 2,
      height: 4, class: "failed-mark" }));
  });
  picture.append(svg("text", { x: left, y: height - 2, class: "axis" }, hours[0].hour.slice(11)));
  picture.append(svg("text", { x: width - 40, y: height - 2, class: "axis" }, hours[hours.length - 1].hour.slice(11)));
  box.replaceChildren(picture);
}

function filters(data) {
  const target = document.getElementById("filter-target");
  const known = data.known_targets || [];
  if (target.options.length !== known.length + 1) {
    target.replaceChildren(el("option", "any", { value: "" }), ...known.map((t) => el("option", t, { value: t })));
  }
  target.value = QUERY.get("target") || "";
  document.getElementById("filter-status").value = QUERY.get("status") || "";
  document.getElementById("filter-since").value = QUERY.get("since") || "";
  const chosen = ["target", "status", "since"].filter((k) => QUERY.get(k)).map((k) => `${k} ${QUERY.get(k)}`);
  document.getElementById("loads-title").textContent =
    chosen.length ? `Loads (${chosen.join(", ")}), newest 50` : "Last 50 loads";
}

function render(data) {
  document.getElementById("instance").textContent = data.instance;
  pill("watching", "watching", data.watching);
  pill("database", "database", data.database_up && data.schema);
  document.getElementById("updated").textContent = `updated ${data.generated_at} UTC`;
  const causes = document.getElementById("causes");
  causes.hidden = !(data.causes || []).length;
  causes.querySelector("ul").replaceChildren(...(data.causes || []).map((c) => el("li", c, { class: "cause" })));
  const error = document.getElementById("error");
  let problem = data.error || "";
  if (problem && data.outage) {
    problem += ` since ${data.outage.since} UTC; next try in ${Math.round(data.outage.next_try_seconds)} s`;
  }
  if (problem && data.stale_since) problem += `: showing what it said at ${data.stale_since} UTC`;
  else if (problem && data.loads === null) problem += ": the loads below are unknown until it answers";
  if (!problem && data.loads_paused && !(data.causes || []).length) {
    problem = "loads are paused: the database was unavailable; retrying";
  }
  error.hidden = !problem;
  error.textContent = problem;
  const guarded = document.getElementById("shrink-refused");
  const held = data.shrink_refused || [];
  guarded.hidden = !held.length;
  guarded.replaceChildren();
  held.forEach((h) => {
    guarded.append(el("a", `${h.target}: load ${h.load_id} not swapped in`, { href: `/load/${h.load_id}` }),
      ` ${h.error} `);
  });
  filters(data);

  // When the database has not answered yet, nothing is known: say so rather than "none".
  const unknown = "unknown: the database does not answer";
  const known = data.loads !== null;
  const partial = (data.loads || []).filter((l) => l.status === "loaded" && l.rows_rejected > 0);
  const warnings = document.getElementById("warnings");
  warnings.hidden = !partial.length;
  warnings.replaceChildren();
  if (partial.length) {
    warnings.append(`${partial.length} recent load(s) loaded with rejected rows: `);
    partial.forEach((l, i) => {
      if (i) warnings.append(", ");
      warnings.append(el("a", `${l.file_name} (${num(l.rows_rejected)} rejected)`, { href: `/load/${l.load_id}` }));
    });
  }

  document.getElementById("queued").textContent = num(data.queue.queued);
  document.getElementById("settling").textContent = num(data.queue.settling);
  document.getElementById("waiting").textContent = num(data.queue.waiting);
  const elsewhere = data.in_flight_elsewhere || [];
  document.getElementById("loading").textContent = num(data.in_flight.length + elsewhere.length);
  document.getElementById("failed-count").textContent = known ? num(data.failures.length) : "?";
  document.getElementById("queue-files").textContent =
    data.queue.files.length ? `queued: ${data.queue.files.join(", ")}` : "";

  fill("in-flight", data.in_flight, (load) => {
    const bar = el("td");
    const meter = el("progress", null, { max: "1" });
    if (load.fraction !== null) meter.value = load.fraction;
    const phase = load.phase === "loading" ? "" : ` ${load.phase}`;
    bar.append(meter, el("span", (load.fraction === null ? " ?" : ` ${Math.round(load.fraction * 100)}%`) + phase));
    if (load.blocked) bar.append(el("div", `blocked: ${load.blocked}`, { class: "error-text blocked" }));
    return row([loadLink(load.load_id), load.file, load.target, bar, num(load.rows), num(load.rejected),
      load.mb_per_s === null ? "" : load.mb_per_s.toFixed(1),
      load.phase === "loading" && !load.blocked ? clock(load.eta_seconds) : "", load.started_at,
      clock(load.elapsed_seconds)], { "data-load-id": load.load_id, "data-file": load.file });
  }, elsewhere.length ? "" : "nothing loading");
  const body = document.querySelector("#in-flight tbody");
  if (elsewhere.length && !data.in_flight.length) body.replaceChildren();
  elsewhere.forEach((load) => body.append(row([loadLink(load.load_id), load.file, load.target,
    el("td", `${load.phase} in another process (${load.claimed_by}), ${clock(load.elapsed_seconds)}`),
    "", "", "", "", load.started_at, clock(load.elapsed_seconds)], { "data-load-id": load.load_id, "data-file": load.file,
    "data-elsewhere": "yes" })));

  chart(data.throughput);
  fill("targets", data.targets, (t) => row([t.target, t.mode, num(t.rows_now), num(t.files_loaded),
    num(t.rows_loaded), num(t.rows_rejected), t.last_load_id ?? "", t.last_loaded_at ?? "",
    el("td", t.age_seconds === null ? "never" : ago(t.age_seconds) + (t.stale ? " (stale)" : ""),
      { class: t.stale ? "error-text" : "" }),
    t.expected_seconds === null ? "" : ago(t.expected_seconds)],
    { "data-target": t.target, "data-stale": t.stale }), known ? "no loads yet" : unknown);

  fill("streams", data.streams || [], (s) => row([s.name, s.target, statusCell(s.state), s.last_timepoint ?? "",
    s.last_published_at ?? "", s.lag_seconds ?? "", s.events_per_second, num(s.events_applied),
    num(s.events_rejected), num(s.malformed_lines), num(s.reconnects),
    el("td", s.last_error ?? "", { class: "error-text" })], { "data-stream": s.name }), "no streams configured");

  fill("sets", data.sets || [], (s) => row([s.set_id, s.set_name, s.target, s.snapshot_date ?? "",
    statusCell(s.status), s.parts, s.missing, num(s.rows_loaded), s.first_seen_at ?? "",
    el("td", s.incomplete ?? "", { class: "error-text" }), el("td", s.error ?? "", { class: "error-text" })],
    { "data-set-id": s.set_id, "data-status": s.status }), "no snapshot sets");

  const filtered = ["target", "status", "since"].some((k) => QUERY.get(k));
  fill("loads", data.loads, (l) => row([loadLink(l.load_id), l.file_name, l.target,
    statusCell(l.status, l.rows_rejected), num(l.rows_read), num(l.rows_loaded), num(l.rows_rejected),
    num(l.rows_inserted), num(l.rows_updated),
    l.duration_ms === null ? "" : (l.duration_ms / 1000).toFixed(2), l.finished_at ?? ""],
    { "data-file": l.file_name, "data-status": l.status, "data-load-id": l.load_id }),
    known ? (filtered ? "no load matches these filters" : "no loads yet") : unknown);

  fill("failures", data.failures, (f) => row([loadLink(f.load_id), f.file_name, f.target, f.finished_at ?? "",
    el("td", f.error, { class: "error-text" })],
    { "data-load-id": f.load_id, "data-file": f.file_name }), known ? "no failures" : unknown);
}

async function poll() {
  try {
    const response = await fetch(`/api/status?${QUERY}`, { cache: "no-store" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.status);
    render(data);
  } catch (err) {
    const error = document.getElementById("error");
    error.hidden = false;
    error.textContent = `cannot show the status: ${err.message || err}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
