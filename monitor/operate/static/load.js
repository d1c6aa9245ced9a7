// One load in full: /api/load/ID drawn as tables, refreshed while the load is in flight.
"use strict";

const LOAD_ID = window.location.pathname.split("/")[2];
const FIELDS = ["load_id", "file_name", "target", "mode", "status", "sha256", "size_bytes", "rows_read",
  "rows_loaded", "rows_rejected", "discovered_at", "started_at", "finished_at", "duration_ms", "source_path",
  "current_path", "host", "os_user", "claimed_by", "attempts", "duplicate_of", "replay_of"];
const LINKED = new Set(["duplicate_of", "replay_of"]);

function render(item) {
  document.title = `ingest-monitor: load ${item.load_id}`;
  document.getElementById("title").textContent = `load ${item.load_id}: ${item.file_name} (${item.status})`;
  document.getElementById("updated").textContent = item.stale_since ? `as read at ${item.stale_since} UTC`
    : `updated ${new Date().toISOString().slice(0, 19)} UTC`;
  const away = document.getElementById("error");
  away.hidden = !item.stale_since;
  away.textContent = item.stale_since ? item.unavailable : "";
  const warning = document.getElementById("warning");
  const partial = item.status === "loaded" && item.rows_rejected > 0;
  warning.hidden = !partial;
  warning.textContent = partial ? `loaded with ${num(item.rows_rejected)} rejected row(s) of ${num(item.rows_read)}` : "";
  const note = document.getElementById("error-note");
  note.hidden = !item.error;
  note.textContent = item.error || "";

  document.getElementById("hints").replaceChildren(...item.hints.map((h) => el("li", h)));
  fill("record", FIELDS.filter((key) => item[key] !== null && item[key] !== undefined && item[key] !== ""),
    (key) => {
      const value = el("td");
      if (LINKED.has(key)) value.append(el("a", item[key], { href: `/load/${item[key]}` }));
      else value.textContent = key === "status" ? item.status : String(item[key]);
      return row([key, value], { "data-field": key });
    }, "no record");
  fill("events", item.events, (e) => row([e.at, e.status, e.detail ?? "", e.instance ?? ""]), "no events");
  fill("columns", item.column_map || [], (c) => row([c.header, c.column]), "no columns (not read)");

  const where = document.getElementById("rejects-file");
  where.replaceChildren();
  if (item.rejects_download) {
    where.append("rejects file: ", el("a", item.rejects_file, { id: "rejects-download", href: item.rejects_download,
      download: "" }));
  } else {
    where.textContent = item.rows_rejected ? "the rejects file is no longer beside the file" : "no rejected rows";
  }
  fill("reject-reasons", item.rejects, (r) => row([r.reason, num(r.count)]), "none");
  fill("reject-samples", item.reject_samples, (r) => row([r.line_number, r.column_name ?? "", r.reason,
    el("td", r.raw, { class: "raw" })]), "none");
}

async function poll() {
  let again = true;
  try {
    const response = await fetch(`/api/load/${LOAD_ID}`, { cache: "no-store" });
    const data = await response.json();
    if (!response.ok) {
      again = response.status !== 404;
      throw new Error(data.error || response.status);
    }
    render(data);
    again = Boolean(data.stale_since) || data.status === "claimed" || data.status === "loading";
  } catch (err) {
    const error = document.getElementById("error");
    error.hidden = false;
    error.textContent = `cannot show load ${LOAD_ID}: ${err.message || err}`;
    if (document.getElementById("updated").textContent === "not loaded yet") {
      document.getElementById("title").textContent = `load ${LOAD_ID}`;
      document.getElementById("updated").textContent = "not read";
    }
  } finally {
    if (again) setTimeout(poll, 2000);
  }
}

document.getElementById("json").setAttribute("href", `/api/load/${LOAD_ID}`);
poll();
