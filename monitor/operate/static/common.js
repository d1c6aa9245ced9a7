// Shared by the status pages: small DOM helpers. No build step, no libraries.
"use strict";

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function num(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString("en");
}

function fill(tableId, rows, makeRow, empty) {
  const body = document.querySelector(`#${tableId} tbody`);
  const lines = (rows || []).map(makeRow);
  if (!lines.length) {
    const tr = el("tr", null, { class: "empty" });
    tr.append(el("td", empty, { colspan: String(document.querySelectorAll(`#${tableId} th`).length) }));
    lines.push(tr);
  }
  body.replaceChildren(...lines);
}

function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function loadLink(loadId) {
  const td = el("td");
  td.append(el("a", loadId, { href: `/load/${loadId}` }));
  return td;
}

function statusCell(status, rejected) {
  const td = el("td");
  const partial = status === "loaded" && rejected > 0;
  td.append(el("span", status, { class: `status ${status}${partial ? " partial" : ""}` }));
  if (partial) td.append(el("span", ` ${num(rejected)} rejected`, { class: "warning-text" }));
  return td;
}

function pill(id, label, ok) {
  const node = document.getElementById(id);
  node.textContent = `${label}: ${ok ? "yes" : "NO"}`;
  node.className = `pill ${ok ? "ok" : "bad"}`;
}
