// The status page: polls /api/status and redraws the tables. No build step, no libraries.
"use strict";

const POLL_MS = 2000;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function num(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString("en");
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "--:--";
  const s = Math.round(seconds), m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function fill(tableId, rows, makeRow, empty) {
  const body = document.querySelector(`#${tableId} tbody`);
  const lines = rows.map(makeRow);
  if (!lines.length) {
    const tr = el("tr", null, { class: "empty" });
    const td = el("td", empty, { colspan: String(document.querySelectorAll(`#${tableId} th`).length) });
    tr.append(td);
    lines.push(tr);
  }
  body.replaceChildren(...lines);
}

function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function statusCell(status) {
  const td = el("td");
  td.append(el("span", status, { class: `status ${status}` }));
  return td;
}

function pill(id, label, ok) {
  const node = document.getElementById(id);
  node.textContent = `${label}: ${ok ? "yes" : "NO"}`;
  node.className = `pill ${ok ? "ok" : "bad"}`;
}

function render(data) {
  document.getElementById("instance").textContent = data.instance;
  pill("watching", "watching", data.watching);
  pill("database", "database", data.database_up);
  document.getElementById("updated").textContent = `updated ${data.generated_at} UTC`;
  const error = document.getElementById("error");
  error.hidden = !data.error;
  error.textContent = data.error || "";

  document.getElementById("queued").textContent = num(data.queue.queued);
  document.getElementById("settling").textContent = num(data.queue.settling);
  document.getElementById("loading").textContent = num(data.in_flight.length);
  document.getElementById("failed-count").textContent = num(data.failures.length);
  document.getElementById("queue-files").textContent =
    data.queue.files.length ? `queued: ${data.queue.files.join(", ")}` : "";

  fill("in-flight", data.in_flight, (load) => {
    const bar = el("td");
    const meter = el("progress", null, { max: "1" });
    if (load.fraction !== null) meter.value = load.fraction;
    bar.append(meter, el("span", load.fraction === null ? " ?" : ` ${Math.round(load.fraction * 100)}%`));
    return row([load.load_id, load.file, load.target, bar, num(load.rows), num(load.rejected),
      load.mb_per_s === null ? "" : load.mb_per_s.toFixed(1), clock(load.eta_seconds), load.started_at],
      { "data-load-id": load.load_id, "data-file": load.file });
  }, "nothing loading");

  fill("targets", data.targets, (t) => row([t.target, t.mode, num(t.rows_now), num(t.files_loaded),
    num(t.rows_loaded), num(t.rows_rejected), t.last_load_id ?? "", t.last_loaded_at ?? ""],
    { "data-target": t.target }), "no loads yet");

  fill("loads", data.loads, (l) => row([l.load_id, l.file_name, l.target, statusCell(l.status),
    num(l.rows_read), num(l.rows_loaded), num(l.rows_rejected), num(l.rows_inserted), num(l.rows_updated),
    l.duration_ms === null ? "" : (l.duration_ms / 1000).toFixed(2), l.finished_at ?? ""],
    { "data-load-id": l.load_id, "data-file": l.file_name, "data-status": l.status }), "no loads yet");

  fill("failures", data.failures, (f) => row([f.load_id, f.file_name, f.target, f.finished_at ?? "",
    el("td", f.error, { class: "error-text" })],
    { "data-load-id": f.load_id, "data-file": f.file_name }), "no failures");
}

async function poll() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    render(await response.json());
  } catch (err) {
    const error = document.getElementById("error");
    error.hidden = false;
    error.textContent = `cannot reach the daemon: ${err}`;
    pill("watching", "watching", false);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
