// framesearch page: talking to the service (API key, media session) and saying what went wrong, in words.
"use strict";

export const $ = (sel) => document.querySelector(sel);

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || "");
    this.status = status; // 0: the service could not be reached
    this.kind = (body && body.error) || (status ? "HTTPError" : "Unreachable");
  }
}

// ---- API key: asked for when the service answers 401, kept for this tab only ----------------------
// Media elements cannot send headers: POST /session sets a short-lived HttpOnly cookie for /videos instead.

const KEY_ITEM = "framesearch.apiKey";
export const MEDIA_SESSION_MS = 20 * 60 * 1000; // renewed well before the cookie's hour runs out
const auth = { key: sessionStorage.getItem(KEY_ITEM), asking: null };

export const keyHeaders = () => (auth.key ? { Authorization: `Bearer ${auth.key}` } : {});

export async function startMediaSession() {
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

// fetch() with the key; asks for a key on 401. Network failures become ApiError(0).
export async function send(path, options = {}, tries = 3) {
  const headers = { Accept: "application/json", ...keyHeaders(), ...(options.headers || {}) };
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, null);
  }
  if (response.status === 401 && tries > 0) {
    await response.body?.cancel().catch(() => {});
    const why = auth.key ? "The service refused that key: enter another." : "This service needs an API key.";
    if (await askForKey(why)) return send(path, options, tries - 1);
  }
  return response;
}

// A JSON API call: the answer's body, or ApiError with the service's {"error", "detail"}.
export async function api(path, options = {}) {
  const response = await send(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : null;
    throw new ApiError(response.status, detail ? { error: "InvalidInput", detail } : body);
  }
  return body;
}

// ---- errors in words ---------------------------------------------------------------------------------

const OBJECT_REPR = /<[\w.]+ object at 0x[0-9a-f]+>/gi;

// The service's detail as a sentence: no Python reprs, a capital letter, a full stop.
export function sentence(detail) {
  const text = String(detail || "").replace(OBJECT_REPR, "the data").trim();
  if (!text) return "";
  const capital = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

const WHAT_TO_DO = {
  search: "Change the query or the filters and search again.",
  image: "Choose a JPEG, PNG or WebP picture.",
  play: "Its thumbnails and times still work.",
  delete: "Reload the library and try again.",
  library: "Reload the page to try again.",
};

// A short human sentence for an error of `action` (search, image, play, delete, library), with what to do.
export function explain(err, action = "search") {
  if (!(err instanceof ApiError)) return "Something went wrong in this page. Reload it and try again.";
  const said = sentence(err.message);
  switch (err.kind) {
    case "Unreachable":
      return "The service is not reachable. Check that framesearch serve is running and this computer is online, then try again.";
    case "Unauthorized":
      return "This service needs an API key. Reload the page to enter one.";
    case "Forbidden":
      return action === "delete"
        ? "Your key may search and watch but not change the library. Use the full API key to delete videos."
        : `The service refused this. ${said}`;
    case "NotFound":
      return action === "play" || action === "delete"
        ? "That video is no longer in the library. Reload the page to see the current list."
        : `${said || "Not found."} Reload the page to see the current library.`;
    case "VideoFileUnavailable":
      return `The video file is not available here, so it cannot be shown. ${said}`;
    case "VideoNotPlayable":
      return `This video cannot be played in a browser: ${said.charAt(0).toLowerCase()}${said.slice(1)} ${WHAT_TO_DO.play}`;
    case "PayloadTooLarge":
      return `${said} Choose a smaller image.`;
    case "ModelError":
    case "ModelMismatch":
    case "NoImageModel":
      return action === "image"
        ? `Searching by image needs the service's own CLIP model. ${said}`
        : `The service's model cannot answer this. ${said}`;
    case "StoreError":
    case "StoreLocked":
      return `The search index is not available right now. ${said} Try again in a moment.`;
    case "LibraryEmpty":
      return said;  // it says how to add videos: another query would not help
    case "InvalidInput":
      return `${said || "The service could not use that."} ${WHAT_TO_DO[action] || ""}`.trim();
    default:
      if (err.status >= 500 || err.kind === "InternalError") {
        return "The service failed unexpectedly (its log has the details). Try again; if it keeps failing, restart it.";
      }
      return `${said || "The service refused this."} ${WHAT_TO_DO[action] || ""}`.trim();
  }
}

// ---- small formatting helpers -------------------------------------------------------------------------

export function fmtTime(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export const idPath = (id) => id.split("/").map(encodeURIComponent).join("/");
export const thumbUrl = (id, t) => `/videos/${idPath(id)}/thumbnail?t=${Number(t).toFixed(2)}`;
export const playUrl = (id) => `/videos/${idPath(id)}/play`;

// Text with break opportunities after each / so long names wrap between folders, not inside words.
export function breakable(text) {
  const fragment = document.createDocumentFragment();
  String(text)
    .split(/(?<=\/)/)
    .forEach((part, i) => {
      if (i) fragment.append(document.createElement("wbr"));
      fragment.append(part);
    });
  return fragment;
}

export function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}
