// framesearch page: adding videos (picked or dropped files become upload jobs) and the service's jobs with their
// progress: uploads from this page, `framesearch ingest local` run in a shell, videos appearing in watched folders.
"use strict";

import { $, api, explain, sentence } from "./api.js";

const VIDEO_NAME = /\.(mp4|m4v|mov|mkv|webm|avi|mpg|mpeg|ts|mts|m2ts|wmv|flv|3gp|ogv)$/i;
const SHOWN = 6; // the newest jobs listed
const ACTIVE_POLL_MS = 1000;
const IDLE_POLL_MS = 5000;
const ACTIVE = new Set(["queued", "running"]);

const jobs = { timer: null, finished: new Set(), seen: false, uploading: 0, onChange: () => {} };

export const isVideoFile = (file) => (file.type || "").startsWith("video/") || VIDEO_NAME.test(file.name || "");

// The page's hook: called when a job has finished (the library has changed).
export function onLibraryChange(callback) {
  jobs.onChange = callback;
}

function item(name) {
  const li = document.createElement("li");
  li.className = "job";
  const title = document.createElement("span");
  title.className = "job-name";
  title.textContent = name;
  const state = document.createElement("span");
  state.className = "job-state";
  const bar = document.createElement("progress");
  bar.setAttribute("aria-label", `Progress of ${name}`);
  const result = document.createElement("span");
  result.className = "job-result";
  li.append(title, state, bar, result);
  return li;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function describe(job) {
  const p = job.progress || {};
  if (job.status === "queued") return { state: "waiting", result: "" };
  if (job.status === "running") {
    const where = job.kind === "library" && p.video ? `indexing ${p.video}` : job.stage || "running";
    const frames = p.frames != null ? `: ${Number(p.frames).toLocaleString()}${p.total ? ` of ${Number(p.total).toLocaleString()}` : ""} frames` : "";
    return { state: `${where}${frames}`, result: "" };
  }
  if (job.kind === "library") {
    const count = (s) => (job.outcomes || []).filter((o) => o.status === s).length;
    const failed = count("failed");
    const text = `${plural(count("indexed"), "video")} indexed, ${count("skipped")} already there${failed ? `, ${failed} failed` : ""}`;
    const firstError = (job.outcomes || []).find((o) => o.status === "failed");
    const why = !job.outcomes?.length && job.error ? sentence(job.error) : firstError ? `${firstError.video_id}: ${sentence(firstError.reason)}` : "";
    return { state: job.status === "failed" ? "failed" : "done", result: [text, why].filter(Boolean).join(" "), failed: job.status === "failed" || failed > 0 };
  }
  if (job.status === "failed") return { state: "failed", result: sentence(job.error), failed: true };
  return { state: "done", result: `indexed ${Number(job.frames || 0).toLocaleString()} frames` };
}

function showJob(li, job) {
  const p = job.progress || {};
  const { state, result, failed } = describe(job);
  li.dataset.jobId = job.job_id;
  li.dataset.status = job.status;
  li.querySelector(".job-state").textContent = state;
  const bar = li.querySelector("progress");
  if (job.status === "running" && p.total) {
    bar.max = Number(p.total);
    bar.value = Math.min(Number(p.frames || 0), Number(p.total));
  } else if (ACTIVE.has(job.status)) {
    bar.removeAttribute("value"); // indeterminate
  } else {
    bar.max = 1;
    bar.value = 1;
  }
  bar.hidden = !ACTIVE.has(job.status);
  const out = li.querySelector(".job-result");
  out.textContent = result;
  out.classList.toggle("error-text", Boolean(failed));
}

function render(list) {
  const uploads = [...document.querySelectorAll("#jobs .job.uploading")];
  const rows = list.slice(0, SHOWN).map((job) => {
    const li = item(job.kind === "library" ? `${job.video_id} (folder)` : job.video_id);
    showJob(li, job);
    return li;
  });
  $("#jobs").replaceChildren(...uploads, ...rows);
  $("#jobs-panel").hidden = !uploads.length && !rows.length;
}

// Ask the service for its jobs; when one has finished since the last look, the library has changed.
export async function refreshJobs() {
  clearTimeout(jobs.timer);
  let active = false;
  try {
    const data = await api("/jobs");
    render(data.jobs);
    active = data.jobs.some((j) => ACTIVE.has(j.status));
    const newlyDone = data.jobs.filter((j) => !ACTIVE.has(j.status) && !jobs.finished.has(j.job_id));
    const first = !jobs.seen;
    data.jobs.filter((j) => !ACTIVE.has(j.status)).forEach((j) => jobs.finished.add(j.job_id));
    jobs.seen = true;
    if (newlyDone.length && !first) jobs.onChange();
  } catch {
    // the jobs list is a convenience: searching goes on without it
  }
  jobs.timer = setTimeout(refreshJobs, active || jobs.uploading ? ACTIVE_POLL_MS : IDLE_POLL_MS);
}

// Send each video file as an upload job; its row shows the upload, then the job's progress and result.
export async function addVideos(files) {
  const videos = [...files].filter(isVideoFile);
  const others = [...files].filter((f) => !isVideoFile(f));
  $("#jobs-panel").hidden = false;
  $("#add-status").textContent = others.length ? `Not a video, left out: ${others.map((f) => f.name).join(", ")}.` : "";
  for (const file of videos) {
    const li = item(file.name);
    li.classList.add("uploading");
    li.querySelector(".job-state").textContent = "uploading";
    $("#jobs").prepend(li);
    jobs.uploading += 1;
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      await api("/jobs", { method: "POST", body: form });
      li.remove();
    } catch (err) {
      li.classList.remove("uploading");
      li.dataset.status = "failed";
      li.querySelector(".job-state").textContent = "not added";
      li.querySelector("progress").hidden = true;
      const out = li.querySelector(".job-result");
      out.textContent = explain(err, "upload");
      out.classList.add("error-text");
      li.classList.add("uploading"); // kept on top until the page reloads
    } finally {
      jobs.uploading -= 1;
    }
    await refreshJobs();
  }
}

export function wireJobs() {
  const input = $("#video-input");
  for (const button of document.querySelectorAll(".add-videos")) button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = "";
    if (files.length) addVideos(files);
  });
  refreshJobs();
}
