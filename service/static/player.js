// framesearch page: the player, its playback preparation and the score timeline (heatmap) under it.
"use strict";

import { $, ApiError, explain, fmtTime, idPath, playUrl, send } from "./api.js";

const LEAD_IN = 2; // seconds shown before a moment's best frame
const POLL_MS = 1000;
const player = {
  seq: 0,
  seg: null, // the moment the player opened on
  card: null, // the result that opened it (focus returns there)
  segments: [], // every marked moment of this video: {start, end, peak}
  points: [], // [{t, heat}] in time order
  duration: 0,
  context: null,
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const isOpen = () => !$("#player").hidden;
export const startAt = (seg) => Math.min(seg.end, Math.max(seg.start, seg.peak - LEAD_IN));

function note(text, isError = false) {
  const el = $("#player-note");
  el.hidden = !text;
  el.textContent = text || "";
  el.classList.toggle("error", isError);
}

// ---- playback: the original, or a browser-playable copy the service prepares ---------------------------

// Resolves to the URL to play once the service can serve it (it answers 202 while it prepares a copy).
async function playable(seq, videoId) {
  const url = playUrl(videoId);
  for (;;) {
    const response = await send(url, { headers: { Range: "bytes=0-0" } });
    if (seq !== player.seq) return null;
    if (response.status === 202) {
      const body = await response.json().catch(() => ({}));
      const done = body && body.progress != null ? ` ${Math.round(body.progress * 100)}%` : "";
      note(`Preparing playback…${done} This video's format needs converting for browsers; it is done once.`);
      $("#video").dataset.state = "preparing";
      await sleep(POLL_MS);
      if (seq !== player.seq) return null;
      continue;
    }
    if (response.ok) {
      await response.body?.cancel().catch(() => {});
      return url;
    }
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
}

function seekAndPlay(seq, time) {
  const video = $("#video");
  video.onseeked = () => {
    if (seq !== player.seq) return;
    video.onseeked = null;
    video.dataset.seekedAt = video.currentTime.toFixed(2); // where playback started (tests read it)
    video.dataset.state = "ready";
    note("");
    video.play().catch(() => {});
  };
  video.currentTime = time;
}

async function load(seq, seg, time) {
  const video = $("#video");
  try {
    const url = await playable(seq, seg.video_id);
    if (!url) return;
    if (video.dataset.src === url && video.readyState >= 1) return seekAndPlay(seq, time);
    video.dataset.src = url;
    video.addEventListener("loadedmetadata", () => seq === player.seq && seekAndPlay(seq, time), { once: true });
    video.src = url;
  } catch (err) {
    if (seq !== player.seq) return;
    video.dataset.state = "error";
    note(explain(err, "play"), true);
  }
}

// ---- the score timeline --------------------------------------------------------------------------------

// Runs of matching points become moments: {start, end, peak}.
function runs(points) {
  const found = [];
  let run = null;
  for (const p of points) {
    if (p.match) {
      if (!run) run = { start: p.t, end: p.t, peak: p.t, best: p.score };
      run.end = p.t;
      if (p.score > run.best) Object.assign(run, { best: p.score, peak: p.t });
    } else if (run) {
      found.push(run);
      run = null;
    }
  }
  if (run) found.push(run);
  return found;
}

// Heat 0-1 per point: the calibrated confidence where the service gives one, else the score's place in this video.
function heat(points, threshold) {
  const scores = points.map((p) => p.score);
  const lo = Math.min(...scores);
  const hi = Math.max(...scores, threshold ?? -Infinity);
  return points.map((p) => ({
    ...p,
    heat: p.confidence != null ? p.confidence : hi > lo ? (p.score - lo) / (hi - lo) : 1,
  }));
}

function fromResults(videoId, results) {
  const mine = results.filter((r) => r.video_id === videoId);
  const points = mine
    .flatMap((r) => r.frames || [{ timestamp: r.peak_time, score: r.score, confidence: r.confidence }])
    .map((f) => ({ t: f.timestamp, score: f.score, confidence: f.confidence, match: true }))
    .sort((a, b) => a.t - b.t);
  return { points, segments: mine.map((r) => ({ start: r.start, end: r.end, peak: r.peak_time })) };
}

async function timeline(seq, seg) {
  const ctx = player.context;
  let data = fromResults(seg.video_id, ctx.results);
  let threshold = null;
  if (ctx.query && ctx.query.kind === "text") {
    const params = new URLSearchParams({ q: ctx.query.text, ...ctx.thresholdParams });
    try {
      const response = await send(`/videos/${idPath(seg.video_id)}/timeline?${params}`);
      const body = response.ok ? await response.json() : null;
      if (body && Array.isArray(body.points)) {
        const points = body.points.map((p) => ({ ...p, t: p.timestamp }));
        data = { points, segments: runs(points) };
        threshold = body.threshold;
        if (body.duration) player.duration = body.duration;
      }
    } catch {
      // the results' own frames still draw a timeline
    }
  }
  if (seq !== player.seq) return;
  if (!data.segments.some((s) => s.start <= seg.peak && seg.peak <= s.end)) data.segments.push(seg);
  player.segments = data.segments.sort((a, b) => a.start - b.start);
  player.points = heat(data.points, threshold);
  $("#timeline").dataset.source = threshold === null ? "results" : "service";
  $("#timeline").dataset.segments = String(player.segments.length);
  drawTimeline();
}

function timelineDuration() {
  const video = $("#video");
  const known = [player.duration, isFinite(video.duration) ? video.duration : 0];
  const last = player.points.length ? player.points[player.points.length - 1].t : 0;
  const ends = player.segments.map((s) => s.end);
  return Math.max(...known, last, ...ends, 0.001);
}

export function drawTimeline() {
  if (!isOpen()) return;
  const canvas = $("#heat");
  const width = Math.max(1, Math.round(canvas.clientWidth * devicePixelRatio));
  const height = Math.max(1, Math.round(canvas.clientHeight * devicePixelRatio));
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const g = canvas.getContext("2d");
  const duration = timelineDuration();
  g.clearRect(0, 0, width, height);
  const points = player.points;
  points.forEach((p, i) => {
    const next = i + 1 < points.length ? points[i + 1].t : p.t + (i ? p.t - points[i - 1].t : 0.5);
    const x0 = (p.t / duration) * width;
    const x1 = Math.max(x0 + 1, (Math.min(next, p.t + 2) / duration) * width);
    const h = Math.max(0, Math.min(1, p.heat));
    g.fillStyle = `hsl(${230 - 180 * h} 85% ${18 + 42 * h}%)`;
    g.fillRect(x0, 0, x1 - x0, height);
  });
  const marks = player.segments.map((s) => {
    const mark = document.createElement("span");
    mark.className = "mark";
    if (player.seg && s.start <= player.seg.peak && player.seg.peak <= s.end) mark.classList.add("current");
    mark.style.left = `${(s.start / duration) * 100}%`;
    mark.style.width = `max(3px, ${((s.end - s.start) / duration) * 100}%)`;
    return mark;
  });
  $("#marks").replaceChildren(...marks);
  movePlayhead();
}

export function movePlayhead() {
  const video = $("#video");
  const duration = timelineDuration();
  const t = video.currentTime || 0;
  $("#playhead").style.left = `${Math.min(100, (t / duration) * 100)}%`;
  const bar = $("#timeline");
  bar.setAttribute("aria-valuemax", duration.toFixed(1));
  bar.setAttribute("aria-valuenow", t.toFixed(1));
  const at = player.segments.findIndex((s) => s.start <= t + 0.05 && t <= s.end + 0.05);
  const where = at >= 0 ? `, in moment ${at + 1} of ${player.segments.length}` : "";
  bar.setAttribute("aria-valuetext", `${fmtTime(t)} of ${fmtTime(duration)}${where}`);
  video.dataset.currentTime = t.toFixed(2);
}

export function seekTo(time) {
  const video = $("#video");
  if (!isFinite(time) || video.readyState < 1) return;
  video.currentTime = Math.max(0, Math.min(time, timelineDuration()));
  movePlayhead();
}

// ←/→: the previous or next marked moment, from a lead-in before its best frame.
export function step(direction) {
  if (!player.segments.length) return;
  const t = $("#video").currentTime || 0;
  let here = -1;
  player.segments.forEach((s, i) => {
    if (startAt(s) <= t + 0.25) here = i;
  });
  const target = player.segments[here + direction];
  if (!target) return;
  seekTo(startAt(target));
  const index = player.segments.indexOf(target) + 1;
  $("#player-info").textContent = `Moment ${index} of ${player.segments.length}: ${fmtTime(target.start)} – ${fmtTime(target.end)}, best at ${fmtTime(target.peak)}`;
}

// ---- opening and closing -------------------------------------------------------------------------------

// Play `result` (a search result) from a moment before its best frame; `context` has the query and all results.
export function openPlayer(result, card, context) {
  const seg = { ...result, peak: result.peak_time };
  const seq = ++player.seq;
  Object.assign(player, { seg, card, context, segments: [seg], points: [], duration: 0 });
  document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
  card.classList.add("active");
  const video = $("#video");
  video.pause();
  $("#player").hidden = false;
  $("#stage").classList.add("playing");
  const times = `${fmtTime(seg.start)} – ${fmtTime(seg.end)}`;
  $("#player-title").textContent = `${seg.video_id} · ${times}`;
  const confidence = seg.confidence != null ? ` · confidence ${Math.round(seg.confidence * 100)}%` : "";
  $("#player-info").textContent = `Best frame at ${fmtTime(seg.peak)} · score ${Number(seg.score).toFixed(3)}${confidence}`;
  const time = startAt(seg);
  Object.assign(video.dataset, { state: "loading", start: seg.start, startAt: time, videoId: seg.video_id });
  note("Loading the video…");
  drawTimeline();
  load(seq, seg, time);
  timeline(seq, seg);
  $("#player").scrollIntoView({ block: matchMedia("(max-width: 999px)").matches ? "start" : "nearest" });
  video.focus({ preventScroll: true });
}

export function closePlayer() {
  const video = $("#video");
  player.seq += 1;
  video.pause();
  $("#player").hidden = true;
  $("#stage").classList.remove("playing");
  document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
  const back = player.card && player.card.isConnected ? player.card.querySelector(".card-play") : $("#q");
  back.focus();
}

export function wirePlayer() {
  const video = $("#video");
  video.addEventListener("timeupdate", movePlayhead);
  video.addEventListener("seeked", movePlayhead);
  video.addEventListener("loadedmetadata", drawTimeline);
  video.addEventListener("error", () => {
    if (video.dataset.state === "preparing" || !video.getAttribute("src")) return;
    video.dataset.state = "error";
    note("This browser cannot play this video. Its thumbnails and times still work.", true);
  });
  $("#timeline").addEventListener("click", (e) => {
    const box = $("#timeline").getBoundingClientRect();
    seekTo(((e.clientX - box.left) / box.width) * timelineDuration());
  });
  $("#player-close").addEventListener("click", closePlayer);
  $("#prev-segment").addEventListener("click", () => step(-1));
  $("#next-segment").addEventListener("click", () => step(1));
  new ResizeObserver(() => drawTimeline()).observe($("#timeline"));
}
