// framesearch search page: plain JS modules, no build step, talks only to this service.
"use strict";

import {
  $, MEDIA_SESSION_MS, api, breakable, explain, fmtTime, idPath, setStatus, startMediaSession, thumbUrl,
} from "./api.js";
import { wireWatch } from "./alerts.js";
import { addVideos, isVideoFile, onLibraryChange, wireJobs } from "./jobs.js";
import { chosenVideos, findVideos, known, libraryTotal, loadLibrary, setChosen, showLibraryError, wireLibrary, wirePicker } from "./library.js";
import { closePlayer, drawTimeline, isOpen, openPlayer, step, wirePlayer } from "./player.js";

const state = {
  config: null, // GET /config: the model and the threshold scale in force
  scale: null, // the slider's scale: the one in force, or the raw cosine one when the address names a `threshold`
  query: null, // {kind: "text"|"image"|"similar", ...}
  results: [],
  thresholdTouched: false,
  searchSeq: 0,
  previewUrl: null,
};
const status = (text, isError) => setStatus($("#status"), text, isError);

function showError(text) {
  const el = $("#search-error");
  el.textContent = text || "";
  el.hidden = !text;
}

// ---- the threshold: the scale, default and labels come from the service ---------------------------------

const scale = () => state.scale;

function describeThreshold(v) {
  const s = scale();
  if (!s) return "";
  let label = s.bands.length ? s.bands[0].label : "";
  for (const band of s.bands) if (v >= band.start - 1e-9) label = band.label;
  return label;
}

function showThreshold(value, inForce = !state.thresholdTouched) {
  const v = Number(value);
  const s = scale();
  const digits = s && s.step < 0.01 ? 3 : 2;
  $("#threshold").value = String(v);
  $("#threshold-value").textContent = v.toFixed(digits);
  const isDefault = s && Math.abs(v - s.default) < 1e-9 && inForce;
  $("#threshold-hint").textContent = `${v.toFixed(digits)}: ${describeThreshold(v)}${isDefault ? " (the default)" : ""}`;
  $("#threshold-reset").hidden = !state.thresholdTouched;
  summarizeFilters();
}

function applyScale(s) {
  state.scale = s;
  const slider = $("#threshold");
  Object.assign(slider, { min: String(s.minimum), max: String(s.maximum), step: String(s.step) });
  $("#threshold-name").textContent = s.kind === "calibrated" ? "Minimum confidence" : "Match threshold";
  $("#threshold-help").textContent = `${s.help} Default ${s.default}: ${s.source}.`;
  $("#threshold").dataset.default = String(s.default);
  $("#threshold").dataset.parameter = s.parameter;
  showThreshold(s.default);
}

function thresholdParams() {
  if (!state.thresholdTouched || !scale()) return {};
  return { [scale().parameter]: Number($("#threshold").value) };
}

// ---- library and filters ---------------------------------------------------------------------------------

async function loadConfig() {
  state.config = await api("/config");
  if (!state.thresholdTouched) applyScale(state.config.threshold);
  const c = state.config;
  const model = c.model ? ` · model ${c.model}` : "";
  $("#stats").textContent = `${c.videos} video${c.videos === 1 ? "" : "s"} · ${c.frames.toLocaleString()} frames${model}`;
  $("#image-button").disabled = !c.image_search;
  $("#image-button").title = c.image_search ? "Or drop an image anywhere on the page" : c.image_search_detail || "";
}

// The picker's first videos (one small page) and the library's size; the library tab reads its own pages.
async function loadVideos() {
  await findVideos();
  $("#welcome").hidden = (libraryTotal() || 0) > 0;
}

function summarizeFilters() {
  const n = chosenVideos().length;
  const videos = n ? `${n} video${n === 1 ? "" : "s"}` : "all videos";
  const name = scale() && scale().kind === "calibrated" ? "confidence" : "threshold";
  const t = $("#threshold-value").textContent;
  $("#filters-summary").textContent = `${videos} · ${name} ${t}${state.thresholdTouched ? "" : " (default)"} · ${$("#limit").value} results`;
}

// ---- searching -----------------------------------------------------------------------------------------

function request(query) {
  const body = { video_id: chosenVideos(), limit: Number($("#limit").value), ...thresholdParams() };
  if (query.kind === "image") {
    const form = new FormData();
    form.append("file", query.file, query.file.name || "query-image");
    for (const [name, value] of Object.entries(body)) {
      for (const v of [].concat(value)) form.append(name, String(v));
    }
    return api("/search/image", { method: "POST", body: form });
  }
  const json = query.kind === "similar" ? { ...body, like: query.like } : { ...body, q: query.text };
  return api(query.kind === "similar" ? "/search/similar" : "/search", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(json),
  });
}

function busy(on, seq) {
  const results = $("#results");
  $("#search-progress").hidden = !on;
  if (on) {
    results.setAttribute("aria-busy", "true");
    results.dataset.started = String(seq);
  } else {
    results.removeAttribute("aria-busy");
    results.dataset.done = String(seq); // the latest search is answered (tests wait on started == done)
  }
}

async function runSearch() {
  const query = state.query;
  if (!query) return;
  const seq = ++state.searchSeq;
  syncUrl();
  showError("");
  status(`Searching ${query.label}…`);
  busy(true, seq);
  try {
    const data = await request(query);
    if (seq !== state.searchSeq) return;
    showInForce(data);
    renderResults(data, query);
  } catch (err) {
    if (seq !== state.searchSeq) return;
    status("");
    showError(explain(err, query.kind === "image" ? "image" : "search"));
  } finally {
    if (seq === state.searchSeq) busy(false, seq);
  }
}

// The threshold the service applied: its confidence floor on a calibrated scale, else the raw one.
function inForce(data) {
  const calibrated = data.threshold_kind === "calibrated" && data.min_confidence != null;
  return { value: calibrated ? data.min_confidence : data.threshold, calibrated };
}

function showInForce(data) {
  const applied = inForce(data);
  const sameScale = !scale() || (scale().kind === "calibrated") === applied.calibrated;
  if (!state.thresholdTouched && sameScale) showThreshold(applied.value, true);
  $("#threshold").dataset.inForce = String(applied.value);
}

function renderResults(data, query) {
  state.results = data.results;
  const cards = data.results.map((seg) => card(seg));
  $("#results").replaceChildren(...cards);
  const applied = inForce(data);
  const floor = `${applied.calibrated ? "confidence" : "threshold"} ${Number(applied.value).toFixed(2)}`;
  status(
    cards.length
      ? `${cards.length} moment${cards.length === 1 ? "" : "s"} for ${query.label}, best first (${floor}).`
      : `No moments match ${query.label} at ${floor}. Lower the threshold under Filters to see weaker matches, or describe it differently.`,
  );
}

const hasFile = (id) => !known.has(id) || Boolean(known.get(id).path);

function card(seg) {
  const li = $("#card-template").content.firstElementChild.cloneNode(true);
  Object.assign(li.dataset, {
    videoId: seg.video_id, start: seg.start, end: seg.end, peakTime: seg.peak_time, peakFrame: seg.peak_frame, score: seg.score,
  });
  const times = `${fmtTime(seg.start)} – ${fmtTime(seg.end)}`;
  const slash = seg.video_id.lastIndexOf("/");
  li.querySelector(".card-folder").textContent = slash > 0 ? seg.video_id.slice(0, slash + 1) : "";
  li.querySelector(".card-title").textContent = seg.video_id.slice(slash + 1) || seg.video_id;
  li.querySelector(".card-title").title = seg.video_id;
  li.querySelector(".card-times").textContent = times;
  const confidence = seg.confidence != null ? `${Math.round(seg.confidence * 100)}%` : "";
  li.querySelector(".card-score").textContent = confidence || Number(seg.score).toFixed(3);
  li.querySelector(".card-score").title = `score ${Number(seg.score).toFixed(3)}${confidence ? `, confidence ${confidence}` : ""}`;
  const img = li.querySelector("img");
  const missing = li.querySelector(".thumb-missing");
  const markMissing = () => {
    img.hidden = true;
    missing.hidden = false;
    li.classList.add("no-file");
  };
  if (hasFile(seg.video_id)) {
    img.addEventListener("error", markMissing, { once: true });
    img.src = thumbUrl(seg.video_id, seg.peak_time);
  } else {
    markMissing();
  }
  const play = li.querySelector(".card-play");
  play.setAttribute("aria-label", `Play ${seg.video_id} from ${times}, ${confidence ? `confidence ${confidence}` : `score ${Number(seg.score).toFixed(3)}`}`);
  play.addEventListener("click", () => play_(seg, li));
  const more = li.querySelector(".more");
  more.setAttribute("aria-label", `More like ${seg.video_id} at ${fmtTime(seg.peak_time)}`);
  more.addEventListener("click", () => moreLikeThis(seg.video_id, seg.peak_frame, seg.peak_time));
  return li;
}

function play_(seg, li) {
  if (!hasFile(seg.video_id)) {
    const times = `${fmtTime(seg.start)} – ${fmtTime(seg.end)}`;
    status(`${seg.video_id} has no video file here (its results were imported without the video); the moment is ${times}.`, true);
    return;
  }
  openPlayer(seg, li, { query: state.query, results: state.results, thresholdParams: thresholdParams() });
}

function setQuery(query) {
  if (state.previewUrl && state.previewUrl !== query.preview) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = query.kind === "image" ? query.preview : null;
  state.query = query;
  const chip = $("#query-chip");
  chip.hidden = query.kind === "text";
  if (query.kind !== "text") {
    $("#query-chip-image").src = query.preview || "";
    $("#query-chip-text").textContent = query.label;
  }
}

function searchText() {
  const text = $("#q").value.trim();
  if (!text) {
    showError("Type what to look for, e.g. “title credits”, or search by an image.");
    return;
  }
  setQuery({ kind: "text", text, label: `“${text}”` });
  runSearch();
}

function searchImage(file) {
  if (!file || !file.type.startsWith("image/")) {
    showError("That is not an image. Drop or choose a JPEG, PNG or WebP picture.");
    return;
  }
  goTo("search");
  setQuery({ kind: "image", file, label: `image ${file.name || ""}`.trim(), preview: URL.createObjectURL(file) });
  runSearch();
}

function moreLikeThis(videoId, frame, time) {
  const like = { video_id: videoId, frame: Number(frame) };
  const preview = hasFile(videoId) && time != null ? thumbUrl(videoId, time) : "";
  const at = time != null ? ` at ${fmtTime(time)}` : ` (frame ${frame})`;
  setQuery({ kind: "similar", like, label: `frames like ${videoId}${at}`, preview, time });
  runSearch();
}

// ---- views, URL, keyboard, drag and drop ---------------------------------------------------------------

function showView(name, refresh = true) {
  const library = name === "library";
  $("#view-search").hidden = library;
  $("#view-library").hidden = !library;
  for (const [tab, current] of [["#tab-search", !library], ["#tab-library", library]]) {
    if (current) $(tab).setAttribute("aria-current", "page");
    else $(tab).removeAttribute("aria-current");
  }
  if (library && refresh) loadLibrary().catch(showLibraryError);
  if (!library) drawTimeline();
}

function goTo(view) {
  showView(view);
  if (location.hash !== `#${view}`) history.replaceState(null, "", `${location.pathname}${location.search}#${view}`);
}

function syncUrl() {
  const params = new URLSearchParams();
  const q = state.query;
  const typed = $("#q").value.trim();
  if (q && q.kind === "text") params.set("q", q.text);
  else if (typed) params.set("q", typed); // the words in the box stay, beside an image or "more like this" query
  if (q && q.kind === "similar") {
    params.set("like", q.like.video_id);
    params.set("frame", String(q.like.frame));
    if (q.time != null) params.set("t", Number(q.time).toFixed(2));
  }
  for (const [name, value] of Object.entries(thresholdParams())) params.set(name, String(value));
  chosenVideos().forEach((id) => params.append("video", id));
  if ($("#limit").value !== "40") params.set("limit", $("#limit").value);
  const search = params.toString();
  history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}${location.hash}`);
}

function restoreFromUrl() {
  const params = new URLSearchParams(location.search);
  const c = state.config;
  // the scale in force, or the other one when the address names its parameter (an older bookmark's `threshold`)
  const named = c ? [c.threshold, c.cosine].filter(Boolean).find((s) => /^[0-9.]+$/.test(params.get(s.parameter) || "")) : null;
  if (named) {
    applyScale(named);
    state.thresholdTouched = true;
    showThreshold(params.get(named.parameter), false);
  }
  setChosen(params.getAll("video"));
  const limit = params.get("limit");
  if (limit && [...$("#limit").options].some((o) => o.value === limit)) $("#limit").value = limit;
  summarizeFilters();
  const q = params.get("q");
  const like = params.get("like");
  const frame = params.get("frame");
  if (q) $("#q").value = q;
  if (like && frame !== null && /^\d+$/.test(frame)) {
    const t = params.get("t");
    moreLikeThis(like, Number(frame), t !== null && isFinite(Number(t)) ? Number(t) : null);
  } else if (q) {
    searchText();
  }
}

function wireDragAndDrop() {
  const overlay = $("#drop-overlay");
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const files = [...e.dataTransfer.files];
    const image = files.find((f) => f.type.startsWith("image/"));
    if (files.some(isVideoFile)) addVideos(files);
    else searchImage(image || files[0]);
  });
}

function onKey(e) {
  const el = document.activeElement;
  const typing = el && (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.isContentEditable);
  if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    goTo("search");
    $("#q").focus();
    $("#q").select(); // typing replaces the query
  } else if (e.key === "Escape" && isOpen() && !$("#key-dialog").open) {
    e.preventDefault();
    closePlayer();
  } else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && isOpen() && !typing && !e.altKey) {
    e.preventDefault();
    e.stopPropagation();
    step(e.key === "ArrowLeft" ? -1 : 1);
  }
}

function wire() {
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    searchText();
  });
  $("#threshold").addEventListener("input", (e) => {
    state.thresholdTouched = true;
    showThreshold(e.target.value, false);
  });
  $("#threshold").addEventListener("change", runSearch);
  $("#threshold-reset").addEventListener("click", () => {
    state.thresholdTouched = false;
    applyScale(state.config.threshold);
    runSearch();
  });
  $("#limit").addEventListener("change", () => {
    summarizeFilters();
    runSearch();
  });
  wirePicker(() => {
    summarizeFilters();
    runSearch();
  });
  wireLibrary(() => {
    loadConfig().catch(() => {});
    findVideos().catch(() => {});
  });
  $("#image-button").addEventListener("click", () => $("#image-input").click());
  $("#image-input").addEventListener("change", (e) => {
    searchImage(e.target.files[0]);
    e.target.value = "";
  });
  $("#query-chip-clear").addEventListener("click", () => {
    const text = $("#q").value.trim();
    setQuery({ kind: "text", text, label: `“${text}”` });
    $("#q").focus();
    if (text) runSearch();
    else syncUrl();
  });
  window.addEventListener("hashchange", () => showView(location.hash === "#library" ? "library" : "search"));
  document.addEventListener("keydown", onKey, true);
  wireDragAndDrop();
  wirePlayer();
  onLibraryChange(() => {
    loadVideos().catch(() => {});
    loadConfig().catch(() => {});
    if (!$("#view-library").hidden) loadLibrary().catch(showLibraryError);
  });
  wireJobs();
  wireWatch();
}

async function start() {
  wire();
  $("#filters").open = matchMedia("(min-width: 700px)").matches;
  await startMediaSession();
  setInterval(startMediaSession, MEDIA_SESSION_MS);
  showView(location.hash === "#library" ? "library" : "search");
  try {
    await loadConfig();
    await loadVideos();
  } catch (err) {
    showError(explain(err, "library"));
    $("#stats").textContent = err.kind === "Unreachable" ? "service not reachable" : "";
  }
  restoreFromUrl();
  if (!location.search && !location.hash && libraryTotal()) $("#q").focus();
  document.body.dataset.ready = "true";
}

start();
