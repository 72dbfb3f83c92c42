// framesearch page: the library at any size. The video filter is a picker (type to find, chosen videos as chips)
// and the library tab reads GET /videos one page at a time: nothing here ever asks for every record.
"use strict";

import { $, api, breakable, explain, fmtTime, idPath, setStatus, thumbUrl } from "./api.js";

const PICK = 20; // matching videos the picker shows
const PAGE = 100; // library rows a page (GET /videos' default)
export const known = new Map(); // video_id -> record, for the videos this page has been shown
const chosen = new Set(); // the filter's videos, in the order chosen
const picker = { seq: 0, total: null, shown: null, changed: () => {} };
const lib = { cursors: [""], index: 0, seq: 0, deleted: () => {} };

export const chosenVideos = () => [...chosen];
export const libraryTotal = () => picker.total; // videos in the library (null until the first answer)

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function remember(videos) {
  for (const v of videos) known.set(v.video_id, v);
}

// ---- the video filter: a searchable picker ------------------------------------------------------------

export function wirePicker(changed) {
  picker.changed = changed;
  $("#video-find").addEventListener("input", debounce(() => findVideos().catch(showPickerError), 200));
  $("#videos-clear").addEventListener("click", () => {
    chosen.clear();
    renderChosen();
    changed();
  });
}

function showPickerError(err) {
  $("#videos-more").textContent = explain(err, "library");
}

// The first PICK videos whose id or path holds what is typed (by name): one small GET /videos.
export async function findVideos() {
  const seq = ++picker.seq;
  const q = $("#video-find").value.trim();
  const params = new URLSearchParams({ limit: String(PICK) });
  if (q) params.set("q", q);
  const data = await api(`/videos?${params}`);
  if (seq !== picker.seq) return null;
  if (!q) picker.total = data.total;
  remember(data.videos);
  renderOptions(data, q);
  renderChosen();
  return data;
}

function renderOptions(data, q) {
  picker.shown = [data, q];
  const shown = [...data.videos].sort((a, b) => chosen.has(b.video_id) - chosen.has(a.video_id)); // chosen first
  const rows = shown.map((v, i) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    Object.assign(box, { type: "checkbox", value: v.video_id, checked: chosen.has(v.video_id), id: `video-${i}` });
    box.addEventListener("change", () => toggle(v.video_id, box.checked));
    const name = document.createElement("span");
    name.append(breakable(v.video_id));
    label.append(box, name);
    return label;
  });
  $("#videos").replaceChildren(...rows);
  $("#videos").hidden = !rows.length;
  const more = data.total - data.count;
  let note = "";
  if (!data.total && q) note = `No video matches “${q}”.`;
  else if (more > 0) note = `${data.count} of ${data.total.toLocaleString()} shown: type to narrow.`;
  $("#videos-more").textContent = note;
  $("#videos").dataset.query = q; // the list answers this text (tests wait on it)
}

function toggle(id, on) {
  if (on) chosen.add(id);
  else chosen.delete(id);
  renderChosen();
  picker.changed();
}

// The filter's videos from an address (?video=…): chips at once, no request.
export function setChosen(ids) {
  chosen.clear();
  for (const id of ids) chosen.add(id);
  if (picker.shown) renderOptions(...picker.shown); // the chosen ones among those shown come first
  renderChosen();
}

export function forget(id) {
  known.delete(id);
  if (chosen.delete(id)) renderChosen();
}

function chip(id) {
  const li = document.createElement("li");
  li.className = "chip video-chip";
  li.dataset.videoId = id;
  const name = document.createElement("span");
  name.textContent = id;
  name.title = id;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove ${id} from the filter`);
  remove.addEventListener("click", () => {
    toggle(id, false);
    $("#video-find").focus();
  });
  li.append(name, remove);
  return li;
}

function renderChosen() {
  $("#video-chips").replaceChildren(...[...chosen].map(chip));
  $("#video-chips").hidden = !chosen.size;
  for (const box of document.querySelectorAll("#videos input")) box.checked = chosen.has(box.value);
  const n = chosen.size;
  const of = picker.total != null ? ` of ${picker.total.toLocaleString()}` : "";
  $("#videos-state").textContent = n ? `(${n}${of} selected)` : "(all)";
  $("#videos-clear").hidden = !n;
}

// ---- the library tab: one page of GET /videos at a time, with a search box and a sort ----------------

export function wireLibrary(deleted) {
  lib.deleted = deleted;
  const again = () => {
    lib.cursors = [""];
    lib.index = 0;
    loadLibrary().catch(showLibraryError);
  };
  $("#library-find").addEventListener("input", debounce(again, 250));
  $("#library-sort").addEventListener("change", again);
  for (const [button, step] of [["#library-prev", -1], ["#library-next", 1]]) {
    $(button).addEventListener("click", () => {
      lib.index = Math.max(0, lib.index + step);
      loadLibrary().catch(showLibraryError);
    });
  }
}

export function showLibraryError(err) {
  setStatus($("#library-status"), explain(err, "library"), true);
}

// The current page of the library (matched, sorted); `data-fresh` marks it listed anew (tests wait for it).
export async function loadLibrary() {
  const seq = ++lib.seq;
  const q = $("#library-find").value.trim();
  const params = new URLSearchParams({ limit: String(PAGE), sort: $("#library-sort").value });
  if (q) params.set("q", q);
  const cursor = lib.cursors[lib.index];
  if (cursor) params.set("cursor", cursor);
  delete $("#library").dataset.fresh;
  const data = await api(`/videos?${params}`);
  if (seq !== lib.seq) return null;
  if (!data.videos.length && lib.index > 0) {
    lib.index -= 1; // the last page emptied (a delete): show the one before
    return loadLibrary();
  }
  lib.cursors = [...lib.cursors.slice(0, lib.index + 1), data.next_cursor || null];
  if (!q) picker.total = data.total;
  remember(data.videos);
  renderLibrary(data, q);
  $("#library").dataset.fresh = "true";
  return data;
}

function renderLibrary(data, q) {
  $("#library tbody").replaceChildren(...data.videos.map(row));
  $("#library").hidden = !data.videos.length;
  const first = lib.index * PAGE + 1;
  const range = `${first.toLocaleString()}–${(first + data.count - 1).toLocaleString()} of ${data.total.toLocaleString()}`;
  $("#library-range").textContent = data.count ? range : "";
  $("#library-prev").disabled = lib.index === 0;
  $("#library-next").disabled = !data.next_cursor;
  $("#library-pager").hidden = !data.next_cursor && lib.index === 0;
  if (!data.total && !q) {
    setStatus($("#library-status"), "No videos are indexed yet. Add videos here, index a folder with “framesearch ingest local FOLDER --recursive”, or try “framesearch demo”.");
  } else if (!data.total) {
    setStatus($("#library-status"), `No video matches “${q}”.`);
  } else {
    setStatus($("#library-status"), "");
  }
}

function cell(content, className, label) {
  const td = document.createElement("td");
  td.append(content);
  if (className) td.className = className;
  if (label) td.dataset.label = label;
  return td;
}

// The video's name under a small thumbnail that loads only when scrolled near (videos with a file).
function nameCell(v) {
  const name = document.createElement("span");
  name.append(breakable(v.video_id));
  const td = cell(name, "id", "Video");
  if (!v.path) return td;
  const img = document.createElement("img");
  Object.assign(img, { alt: "", loading: "lazy", decoding: "async", width: 96, height: 54, className: "row-thumb" });
  img.addEventListener("error", () => (img.hidden = true), { once: true });
  img.src = thumbUrl(v.video_id, Math.min(1, (v.duration || 0) / 2));
  td.prepend(img);
  return td;
}

function row(v) {
  const tr = document.createElement("tr");
  tr.dataset.videoId = v.video_id;
  const indexed = v.indexed_at ? new Date(v.indexed_at) : null;
  const source = v.path ? v.source : `${v.source} (no video file)`;
  const when = cell(indexed ? indexed.toLocaleString() : "—", "", "Indexed");
  if (indexed) when.title = v.indexed_at;
  tr.append(
    nameCell(v),
    cell(fmtTime(v.duration), "num", "Length"),
    cell(Number(v.frames).toLocaleString(), "num", "Frames"),
    cell(breakable(v.model), "", "Model"),
    cell(source, "", "Source"),
    when,
  );
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${v.video_id}`);
  const problem = document.createElement("p");
  problem.className = "row-error error-text";
  problem.setAttribute("role", "alert");
  problem.hidden = true;
  remove.addEventListener("click", () => deleteVideo(v, remove, problem));
  const actions = cell(remove, "actions");
  actions.append(problem);
  tr.append(actions);
  return tr;
}

async function deleteVideo(record, button, problem) {
  const question = `Delete “${record.video_id}” and its ${record.frames} frames from the index?\nThe video file itself is not touched.`;
  if (!window.confirm(question)) return;
  button.disabled = true;
  problem.hidden = true;
  try {
    const done = await api(`/videos/${idPath(record.video_id)}`, { method: "DELETE" });
    forget(record.video_id);
    await loadLibrary();
    setStatus($("#library-status"), `Deleted ${record.video_id} (${done.deleted_frames} frames).`);
    lib.deleted();
  } catch (err) {
    problem.textContent = explain(err, "delete");
    problem.hidden = false;
    button.disabled = false;
  }
}
