// framesearch page: the live list of standing searches' new moments (GET /alerts/events, read with fetch so that
// the API key goes along: EventSource cannot send it) and the screen-time chart (GET /stats, plain SVG).
"use strict";

import { $, api, explain, send } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_SHOWN = 50;
const RETRY_MS = 5000;
let told = 0;

function showEvent(event) {
  const item = document.createElement("li");
  const aired = event.start_utc ? ` (aired ${event.start_utc})` : "";
  const confidence = event.confidence == null ? "" : `, confidence ${event.confidence.toFixed(2)}`;
  item.textContent = `“${event.q}” in ${event.video_id} at ${event.start.toFixed(1)}–${event.end.toFixed(1)} s${aired}${confidence}`;
  item.title = `found ${event.detected_at}`;
  const list = $("#alert-events");
  list.prepend(item);
  while (list.children.length > MAX_SHOWN) list.lastChild.remove();
  told += 1;
  $("#alert-count").textContent = `(${told} new)`;
}

// One server-sent event block ("id: ..\nevent: alert\ndata: {...}") -> its event, or null (a ping, the retry line).
function parseBlock(block) {
  const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
  if (!data) return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

async function follow(after) {
  let last = after;
  for (;;) {
    try {
      const query = last == null ? "" : `?after=${last}`;
      const response = await send(`/alerts/events${query}`, { headers: { Accept: "text/event-stream" } });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      $("#alerts-state").textContent = "Watching: new moments appear here as they are indexed.";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event) {
            last = event.seq;
            showEvent(event);
          }
        }
      }
    } catch {
      $("#alerts-state").textContent = "Not connected to the alerts stream; trying again…";
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

function drawChart(answer) {
  const chart = $("#stats-chart");
  chart.replaceChildren();
  const rows = answer.rows;
  chart.toggleAttribute("hidden", !rows.length); // an <svg> has no .hidden property: the attribute it is
  if (!rows.length) return;
  const width = 600, bar = 18, gap = 6, label = 190;
  const height = rows.length * (bar + gap) + gap;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const most = Math.max(...rows.map((r) => r.seconds), 1e-9);
  rows.forEach((row, i) => {
    const y = gap + i * (bar + gap);
    const name = document.createElementNS(SVG, "text");
    name.setAttribute("x", "0");
    name.setAttribute("y", String(y + bar * 0.7));
    name.textContent = row.key.length > 28 ? `${row.key.slice(0, 27)}…` : row.key;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", String(label));
    rect.setAttribute("y", String(y));
    rect.setAttribute("height", String(bar));
    rect.setAttribute("width", String(Math.max(1, ((width - label - 70) * row.seconds) / most)));
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${row.key}: ${row.seconds.toFixed(1)} s in ${row.moments} moments`;
    rect.append(title);
    const value = document.createElementNS(SVG, "text");
    value.setAttribute("x", String(label + 4 + ((width - label - 70) * row.seconds) / most));
    value.setAttribute("y", String(y + bar * 0.7));
    value.textContent = `${row.seconds.toFixed(1)} s`;
    chart.append(name, rect, value);
  });
}

async function totals(e) {
  e.preventDefault();
  const q = $("#stats-q").value.trim();
  if (!q) return;
  $("#stats-state").textContent = "Counting…";
  try {
    const answer = await api(`/stats?${new URLSearchParams({ q, by: $("#stats-by").value })}`);
    $("#stats-state").textContent = `${answer.total_seconds.toFixed(1)} s on screen in ${answer.moments} moments (confidence ${answer.min_confidence}).`;
    drawChart(answer);
  } catch (err) {
    $("#stats-state").textContent = explain(err);
    $("#stats-chart").setAttribute("hidden", "");
  }
}

export function wireWatch() {
  $("#stats-form").addEventListener("submit", totals);
  api("/alerts/events?stream=false&limit=10")
    .then((answer) => {
      answer.events.forEach(showEvent);
      told = 0;
      $("#alert-count").textContent = "";
      const last = answer.events.length ? answer.events[answer.events.length - 1].seq : null;
      follow(last);
    })
    .catch(() => follow(null));
}
