// framesearch search page: plain JS, no build step, talks only to this service.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const state = {
    videos: new Map(), // video_id -> record
    query: null, // {kind: "text"|"image"|"similar", ...}
    thresholdTouched: false,
    searchSeq: 0,
    playSeq: 0,
    previewUrl: null,
  };

  // ---- helpers -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.error)) || `HTTP ${status}`);
      this.status = status;
      this.kind = body && body.error;
    }
  }

  // ---- API key: asked for when the service answers 401, kept for this tab only ----------------
  // Media elements cannot send headers: POST /session sets a short-lived HttpOnly cookie for /videos instead.

  const KEY_ITEM = "framesearch.apiKey";
  const MEDIA_SESSION_MS = 20 * 60 * 1000; // renewed well before the cookie's hour runs out
  const auth = { key: sessionStorage.getItem(KEY_ITEM), asking: null };

  const keyHeaders = () => (auth.key ? { Authorization: `Bearer ${auth.key}` } : {});

  async function startMediaSession() {
    if (!auth.key) return;
    await fetch("/session", { method: "POST", headers: keyHeaders() }).catch(() => null);
  }

  function askForKey(message) {
    if (auth.asking) return auth.asking;
    const dialog = $("#key-dialog");
    $("#key-message").textContent = message;
    $("#key-input").value = "";
    auth.asking = new Promise((resolve) => {
      const done = async (key) => {
        dialog.close();
        auth.asking = null;
        if (!key) return resolve(false);
        auth.key = key;
        sessionStorage.setItem(KEY_ITEM, key);
        await startMediaSession();
        resolve(true);
      };
      $("#key-form").onsubmit = (e) => {
        e.preventDefault();
        done($("#key-input").value.trim());
      };
      $("#key-cancel").onclick = () => done(null);
      dialog.oncancel = (e) => {
        e.preventDefault();
        done(null);
      };
      dialog.showModal();
      $("#key-input").focus();
    });
    return auth.asking;
  }

  async function api(path, options = {}, tries = 3) {
    const headers = { Accept: "application/json", ...keyHeaders(), ...(options.headers || {}) };
    const response = await fetch(path, { ...options, headers });
    const body = await response.json().catch(() => null);
    if (response.status === 401 && tries > 0) {
      const why = auth.key ? "The service refused that key: enter another." : "This service needs an API key.";
      if (await askForKey(why)) return api(path, options, tries - 1);
    }
    if (!response.ok) {
      const detail = body && Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : null;
      throw new ApiError(response.status, detail ? { detail } : body);
    }
    return body;
  }

  function fmtTime(seconds) {
    if (seconds == null || !isFinite(seconds)) return "—";
    const s = Math.max(0, seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = (s % 60).toFixed(1).padStart(4, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  const idPath = (id) => id.split("/").map(encodeURIComponent).join("/");
  const thumbUrl = (id, t) => `/videos/${idPath(id)}/thumbnail?t=${Number(t).toFixed(2)}`;
  const fileUrl = (id) => `/videos/${idPath(id)}/file`;
  const hasFile = (id) => !state.videos.has(id) || Boolean(state.videos.get(id).path);

  function setStatus(el, text, isError = false) {
    el.textContent = text;
    el.classList.toggle("error", isError);
  }
  const status = (text, isError) => setStatus($("#status"), text, isError);

  function describeThreshold(v) {
    if (v < 0.15) return "very loose — almost every frame passes";
    if (v < 0.22) return "loose — many moments, some off-topic";
    if (v < 0.27) return "balanced — likely matches";
    if (v < 0.32) return "strict — only clear matches";
    if (v < 0.5) return "very strict — text queries rarely score this high";
    return "near-identical frames only (image and “more like this” queries)";
  }

  function showThreshold(value) {
    const v = Number(value);
    $("#threshold").value = String(v);
    $("#threshold-value").textContent = v.toFixed(2);
    $("#threshold-hint").textContent = `${v.toFixed(2)} — ${describeThreshold(v)}`;
  }

  // ---- library and filters -------------------------------------------------------------------

  async function loadStats() {
    try {
      const h = await api("/healthz");
      const model = h.model ? ` · model ${h.model}` : "";
      $("#stats").textContent = `${state.videos.size} videos · ${h.frames.toLocaleString()} frames${model}`;
    } catch (err) {
      $("#stats").textContent = `service unavailable: ${err.message}`;
    }
  }

  async function loadVideos() {
    const data = await api("/videos");
    state.videos = new Map(data.videos.map((v) => [v.video_id, v]));
    const select = $("#videos");
    const chosen = new Set([...select.selectedOptions].map((o) => o.value));
    select.replaceChildren(
      ...data.videos.map((v) => {
        const option = new Option(v.video_id, v.video_id, false, chosen.has(v.video_id));
        option.title = v.path || "no video file";
        return option;
      }),
    );
    renderLibrary();
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderLibrary() {
    const rows = [...state.videos.values()].map((v) => {
      const tr = document.createElement("tr");
      tr.dataset.videoId = v.video_id;
      const indexed = v.indexed_at ? new Date(v.indexed_at) : null;
      const source = v.path ? v.source : `${v.source} (no video file)`;
      tr.append(
        cell(v.video_id, "id"),
        cell(fmtTime(v.duration), "num"),
        cell(Number(v.frames).toLocaleString(), "num"),
        cell(v.model),
        cell(source),
        cell(indexed ? indexed.toLocaleString() : "—"),
      );
      if (indexed) tr.children[5].title = v.indexed_at;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete ${v.video_id}`);
      remove.addEventListener("click", () => deleteVideo(v, remove));
      const actions = document.createElement("td");
      actions.append(remove);
      tr.append(actions);
      return tr;
    });
    $("#library tbody").replaceChildren(...rows);
    if (!rows.length) setStatus($("#library-status"), "No videos indexed yet: run `framesearch ingest local VIDEO`.");
    else if ($("#library-status").classList.contains("empty")) setStatus($("#library-status"), "");
    $("#library-status").classList.toggle("empty", !rows.length);
  }

  async function deleteVideo(record, button) {
    const question = `Delete “${record.video_id}” and its ${record.frames} frames from the index?\nThe video file itself is not touched.`;
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      const done = await api(`/videos/${idPath(record.video_id)}`, { method: "DELETE" });
      setStatus($("#library-status"), `Deleted ${record.video_id} (${done.deleted_frames} frames).`);
      await loadVideos();
      loadStats();
    } catch (err) {
      const auth = err.status === 401 || err.status === 403;
      setStatus($("#library-status"), auth ? `Deleting needs authorisation: ${err.message}` : err.message, true);
      button.disabled = false;
    }
  }

  function filters() {
    const chosen = [...$("#videos").selectedOptions].map((o) => o.value);
    const body = { video_id: chosen, limit: Number($("#limit").value) };
    if (state.thresholdTouched) body.threshold = Number($("#threshold").value);
    return body;
  }

  // ---- searching -----------------------------------------------------------------------------

  function request(query) {
    const f = filters();
    if (query.kind === "image") {
      const form = new FormData();
      form.append("file", query.file, query.file.name || "query-image");
      f.video_id.forEach((id) => form.append("video_id", id));
      form.append("limit", String(f.limit));
      if (f.threshold != null) form.append("threshold", String(f.threshold));
      return api("/search/image", { method: "POST", body: form });
    }
    const body = query.kind === "similar" ? { ...f, like: query.like } : { ...f, q: query.text };
    return api(query.kind === "similar" ? "/search/similar" : "/search", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  }

  async function runSearch() {
    const query = state.query;
    if (!query) return;
    const seq = ++state.searchSeq;
    syncUrl();
    status(`Searching ${query.label}…`);
    $("#results").setAttribute("aria-busy", "true");
    $("#results").dataset.started = String(seq);
    try {
      const data = await request(query);
      if (seq !== state.searchSeq) return;
      if (!state.thresholdTouched) showThreshold(data.threshold);
      renderResults(data, query);
    } catch (err) {
      if (seq !== state.searchSeq) return;
      $("#results").replaceChildren();
      status(err.message, true);
    } finally {
      if (seq === state.searchSeq) {
        $("#results").removeAttribute("aria-busy");
        $("#results").dataset.done = String(seq); // the latest search is answered (tests wait on started == done)
      }
    }
  }

  function renderResults(data, query) {
    const cards = data.results.map((seg) => card(seg));
    $("#results").replaceChildren(...cards);
    const t = Number(data.threshold).toFixed(2);
    status(
      cards.length
        ? `${cards.length} moment${cards.length === 1 ? "" : "s"} for ${query.label}, best first (threshold ${t}).`
        : `No moments for ${query.label} above ${t}: try a lower threshold.`,
    );
  }

  function card(seg) {
    const li = $("#card-template").content.firstElementChild.cloneNode(true);
    Object.assign(li.dataset, {
      videoId: seg.video_id,
      start: seg.start,
      end: seg.end,
      peakTime: seg.peak_time,
      peakFrame: seg.peak_frame,
      score: seg.score,
    });
    const times = `${fmtTime(seg.start)} – ${fmtTime(seg.end)}`;
    const slash = seg.video_id.lastIndexOf("/");
    li.querySelector(".card-folder").textContent = slash > 0 ? seg.video_id.slice(0, slash + 1) : "";
    li.querySelector(".card-title").textContent = seg.video_id.slice(slash + 1) || seg.video_id;
    li.querySelector(".card-title").title = seg.video_id;
    li.querySelector(".card-times").textContent = times;
    li.querySelector(".card-score").textContent = Number(seg.score).toFixed(3);
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
    play.setAttribute("aria-label", `Play ${seg.video_id} from ${times}, score ${Number(seg.score).toFixed(3)}`);
    play.addEventListener("click", () => openPlayer(seg, li));
    li.querySelector(".more").addEventListener("click", () => moreLikeThis(seg));
    return li;
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
      status("Type what to look for, e.g. “title credits”, or search by an image.");
      return;
    }
    setQuery({ kind: "text", text, label: `“${text}”` });
    runSearch();
  }

  function searchImage(file) {
    if (!file || !file.type.startsWith("image/")) {
      status("That is not an image: drop or choose a JPEG, PNG or WebP file.", true);
      return;
    }
    goTo("search");
    setQuery({ kind: "image", file, label: `image ${file.name || ""}`.trim(), preview: URL.createObjectURL(file) });
    runSearch();
  }

  function moreLikeThis(seg) {
    const like = { video_id: seg.video_id, frame: seg.peak_frame };
    const preview = hasFile(seg.video_id) ? thumbUrl(seg.video_id, seg.peak_time) : "";
    setQuery({ kind: "similar", like, label: `frames like ${seg.video_id} at ${fmtTime(seg.peak_time)}`, preview });
    runSearch();
  }

  // ---- player --------------------------------------------------------------------------------

  function openPlayer(seg, li) {
    const times = `${fmtTime(seg.start)} – ${fmtTime(seg.end)}`;
    if (!hasFile(seg.video_id)) {
      status(`${seg.video_id}: video file not available (results imported without the video); the moment is ${times}.`, true);
      return;
    }
    document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
    li.classList.add("active");
    const video = $("#video");
    const seq = ++state.playSeq;
    $("#player").hidden = false;
    $("#stage").classList.add("playing");
    $("#player-title").textContent = `${seg.video_id} · ${times}`;
    $("#player-info").textContent = `Best frame at ${fmtTime(seg.peak_time)} · score ${Number(seg.score).toFixed(3)}`;
    Object.assign(video.dataset, { state: "loading", start: seg.start, videoId: seg.video_id });
    const seek = () => {
      if (seq === state.playSeq) video.currentTime = seg.start;
    };
    video.onseeked = () => {
      if (seq !== state.playSeq) return;
      video.onseeked = null;
      video.dataset.state = "ready";
      video.play().catch(() => {});
    };
    const src = fileUrl(seg.video_id);
    if (video.dataset.src !== src) {
      video.dataset.src = src;
      video.addEventListener("loadedmetadata", seek, { once: true });
      video.src = src;
    } else if (video.readyState >= 1) {
      seek();
    } else {
      video.addEventListener("loadedmetadata", seek, { once: true });
    }
    $("#player").scrollIntoView({ block: "nearest" });
    video.focus({ preventScroll: true });
  }

  function closePlayer() {
    const video = $("#video");
    video.pause();
    $("#player").hidden = true;
    $("#stage").classList.remove("playing");
    document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
  }

  function watchVideo() {
    const video = $("#video");
    video.addEventListener("timeupdate", () => {
      video.dataset.currentTime = video.currentTime.toFixed(2);
    });
    video.addEventListener("error", () => {
      video.dataset.state = "error";
      status(`This browser cannot play ${video.dataset.videoId} (its format or codec); thumbnails and times still work.`, true);
    });
  }

  // ---- views, URL, keyboard, drag and drop ---------------------------------------------------

  function showView(name, refresh = true) {
    const library = name === "library";
    $("#view-search").hidden = library;
    $("#view-library").hidden = !library;
    for (const [tab, current] of [["#tab-search", !library], ["#tab-library", library]]) {
      if (current) $(tab).setAttribute("aria-current", "page");
      else $(tab).removeAttribute("aria-current");
    }
    if (library && refresh) loadVideos().catch((err) => setStatus($("#library-status"), err.message, true));
  }

  function goTo(view) {
    showView(view);
    if (location.hash !== `#${view}`) history.replaceState(null, "", `${location.pathname}${location.search}#${view}`);
  }

  function syncUrl() {
    const params = new URLSearchParams();
    if (state.query && state.query.kind === "text") params.set("q", state.query.text);
    if (state.thresholdTouched) params.set("threshold", $("#threshold").value);
    [...$("#videos").selectedOptions].forEach((o) => params.append("video", o.value));
    if ($("#limit").value !== "40") params.set("limit", $("#limit").value);
    const search = params.toString();
    history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}${location.hash}`);
  }

  function restoreFromUrl() {
    const params = new URLSearchParams(location.search);
    const threshold = params.get("threshold");
    if (threshold !== null && isFinite(Number(threshold))) {
      state.thresholdTouched = true;
      showThreshold(threshold);
    }
    const wanted = new Set(params.getAll("video"));
    [...$("#videos").options].forEach((o) => (o.selected = wanted.has(o.value)));
    const limit = params.get("limit");
    if (limit && [...$("#limit").options].some((o) => o.value === limit)) $("#limit").value = limit;
    const q = params.get("q");
    if (q) {
      $("#q").value = q;
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
      searchImage(files.find((f) => f.type.startsWith("image/")) || files[0]);
    });
  }

  function wire() {
    $("#search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      searchText();
    });
    $("#threshold").addEventListener("input", (e) => {
      state.thresholdTouched = true;
      showThreshold(e.target.value);
    });
    $("#threshold").addEventListener("change", runSearch);
    $("#videos").addEventListener("change", runSearch);
    $("#limit").addEventListener("change", runSearch);
    $("#image-button").addEventListener("click", () => $("#image-input").click());
    $("#image-input").addEventListener("change", (e) => {
      searchImage(e.target.files[0]);
      e.target.value = "";
    });
    $("#query-chip-clear").addEventListener("click", () => {
      setQuery({ kind: "text", text: $("#q").value.trim(), label: `“${$("#q").value.trim()}”` });
      $("#q").focus();
      if (state.query.text) runSearch();
    });
    $("#player-close").addEventListener("click", closePlayer);
    window.addEventListener("hashchange", () => showView(location.hash === "#library" ? "library" : "search"));
    document.addEventListener("keydown", (e) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      if (e.key === "/" && !typing) {
        e.preventDefault();
        goTo("search");
        $("#q").focus();
      } else if (e.key === "Escape" && !$("#player").hidden) {
        closePlayer();
      }
    });
    wireDragAndDrop();
    watchVideo();
  }

  async function start() {
    wire();
    await startMediaSession();
    setInterval(startMediaSession, MEDIA_SESSION_MS);
    showThreshold($("#threshold").value);
    showView(location.hash === "#library" ? "library" : "search", false);
    try {
      await loadVideos();
    } catch (err) {
      status(`Cannot list videos: ${err.message}`, true);
    }
    loadStats();
    restoreFromUrl();
    document.body.dataset.ready = "true";
  }

  start();
})();
