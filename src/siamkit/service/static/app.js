// siamkit's web page: plain browser JavaScript talking to the service's JSON API, no framework or build step.
// Every URL is relative, so the page also works when the service is mounted below a path prefix.
"use strict";

const TOKEN_KEY = "siamkit.token";
const TOP_K = 5;

function $(id) {
  return document.getElementById(id);
}

// Numbers are shown with four decimals; the exact value stays in data-value for anyone who needs it.
function showNumber(element, value) {
  if (value === null || value === undefined) {
    element.textContent = "n/a";
    element.dataset.value = "";
  } else {
    const text = Number(value).toFixed(4);
    element.textContent = text === "-0.0000" ? "0.0000" : text; // a tiny negative value rounds to zero
    element.dataset.value = String(value);
  }
}

function showError(id, message) {
  const element = $(id);
  element.textContent = message;
  element.hidden = false;
}

function clearError(id) {
  const element = $(id);
  element.textContent = "";
  element.hidden = true;
}

// FastAPI answers errors as {"detail": "..."}; its own validation errors put a list of problems there instead.
function describeError(status, body) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) {
    return detail;
  }
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((problem) => {
        const where = Array.isArray(problem.loc) ? problem.loc.filter((part) => part !== "body").join(".") : "";
        return where ? `${where}: ${problem.msg}` : String(problem.msg);
      })
      .join("; ");
  }
  return `the service answered HTTP ${status}`;
}

// Sends a request and returns the parsed JSON answer, or throws an Error whose message is the service's detail.
async function callApi(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new Error(`cannot reach the service (${error.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok) {
    throw new Error(describeError(response.status, body));
  }
  return body;
}

// Runs one form submission: disables its button while the request is in flight and reports any error.
async function submitWith(button, errorId, action) {
  clearError(errorId);
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (error) {
    showError(errorId, error.message);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function showPreview(input, preview) {
  if (preview.src) {
    URL.revokeObjectURL(preview.src);
  }
  const file = input.files && input.files[0];
  if (!file || !file.type.startsWith("image/")) {
    preview.removeAttribute("src");
    preview.hidden = true;
    return;
  }
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  preview.onerror = () => {
    preview.hidden = true;
  };
}

function showPreviews(input, container) {
  for (const image of container.querySelectorAll("img")) {
    URL.revokeObjectURL(image.src);
  }
  container.replaceChildren();
  for (const file of input.files || []) {
    if (!file.type.startsWith("image/")) {
      continue;
    }
    const image = document.createElement("img");
    image.className = "preview small";
    image.alt = `Preview of ${file.name}`;
    image.src = URL.createObjectURL(file);
    container.append(image);
  }
}

// Lets a file be dropped onto the label that wraps an input, as if it had been chosen in the file dialog.
function enableDrop(input) {
  const zone = input.closest(".drop");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) {
      return;
    }
    if (input.multiple) {
      input.files = files;
    } else {
      const single = new DataTransfer();
      single.items.add(files[0]);
      input.files = single.files;
    }
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

function requireFile(input, what) {
  const file = input.files && input.files[0];
  if (!file) {
    throw new Error(`choose ${what} first`);
  }
  return file;
}

async function refreshStatus() {
  try {
    const health = await callApi("healthz", { headers: { Accept: "application/json" } });
    $("status-model").textContent = health.model;
    $("status-model").title = `Model ${health.model}`;
    $("status-gallery").textContent = health.gallery ? "loaded" : "none";
    $("status-identities").textContent = health.gallery ? String(health.identities) : "n/a";
  } catch (error) {
    $("status-model").textContent = "unreachable";
    $("status-gallery").textContent = "n/a";
    $("status-identities").textContent = "n/a";
  }
}

async function verify() {
  const first = requireFile($("verify-first"), "the first image");
  const second = requireFile($("verify-second"), "the second image");
  const form = new FormData();
  form.append("first", first);
  form.append("second", second);
  $("verify-result").hidden = true;
  const answer = await callApi("v1/verify", { method: "POST", body: form });
  const decision = $("verify-decision");
  decision.textContent = answer.same ? "same" : "different";
  decision.dataset.same = String(answer.same);
  decision.className = answer.same ? "accepted" : "rejected";
  showNumber($("verify-score"), answer.score);
  showNumber($("verify-similarity"), answer.similarity);
  showNumber($("verify-threshold"), answer.threshold);
  showNumber($("verify-probability"), answer.probability);
  $("verify-result").hidden = false;
}

function candidateRow(candidate, rank, isDecision) {
  const row = document.createElement("tr");
  row.className = isDecision ? "candidate chosen" : "candidate";
  row.dataset.identity = candidate.identity;

  const rankCell = document.createElement("td");
  rankCell.textContent = String(rank);

  const thumbnailCell = document.createElement("td");
  if (candidate.thumbnail) {
    const image = document.createElement("img");
    image.className = "candidate-thumbnail";
    image.src = candidate.thumbnail;
    image.alt = `Reference image of ${candidate.identity}`;
    thumbnailCell.append(image);
  } else {
    const placeholder = document.createElement("span");
    placeholder.className = "candidate-thumbnail missing";
    placeholder.textContent = "none";
    thumbnailCell.append(placeholder);
  }

  const identityCell = document.createElement("td");
  identityCell.className = "candidate-identity";
  identityCell.textContent = candidate.identity;

  const scoreCell = document.createElement("td");
  scoreCell.className = "candidate-score";
  showNumber(scoreCell, candidate.score);

  const similarityCell = document.createElement("td");
  similarityCell.className = "candidate-similarity";
  showNumber(similarityCell, candidate.similarity);

  row.append(rankCell, thumbnailCell, identityCell, scoreCell, similarityCell);
  return row;
}

async function identify() {
  const image = requireFile($("identify-image"), "an image");
  const form = new FormData();
  form.append("image", image);
  form.append("top_k", String(TOP_K));
  $("identify-result").hidden = true;
  const answer = await callApi("v1/identify", { method: "POST", body: form });
  const decision = $("identify-decision");
  decision.textContent = answer.known ? answer.identity : "unknown";
  decision.dataset.known = String(answer.known);
  decision.className = answer.known ? "accepted" : "rejected";
  showNumber($("identify-threshold"), answer.threshold);
  $("identify-warning").textContent = answer.warning || "";
  $("identify-warning").hidden = !answer.warning;
  const rows = answer.candidates
    .slice(0, TOP_K)
    .map((candidate, index) => candidateRow(candidate, index + 1, answer.known && index === 0));
  if (!rows.length) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 5;
    cell.textContent = "The gallery is empty.";
    row.append(cell);
    rows.push(row);
  }
  $("identify-candidates").replaceChildren(...rows);
  $("identify-result").hidden = false;
}

async function enrol() {
  const identity = $("enrol-identity").value.trim();
  if (!identity) {
    throw new Error("enter the identity's name first");
  }
  const images = $("enrol-images").files;
  if (!images || !images.length) {
    throw new Error("choose at least one reference image first");
  }
  const metadata = $("enrol-metadata").value.trim();
  if (metadata) {
    let parsed;
    try {
      parsed = JSON.parse(metadata);
    } catch (error) {
      throw new Error("metadata must be a JSON object, e.g. {\"team\": \"ops\"}");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("metadata must be a JSON object, e.g. {\"team\": \"ops\"}");
    }
  }
  const token = $("enrol-token").value.trim();
  if (!token) {
    throw new Error("enter the service token first (the server's SIAMKIT_TOKEN)");
  }
  const form = new FormData();
  form.append("identity", identity);
  for (const file of images) {
    form.append("images", file);
  }
  if (metadata) {
    form.append("metadata", metadata);
  }
  $("enrol-result").hidden = true;
  const answer = await callApi("v1/identities", {
    method: "POST",
    body: form,
    headers: { Authorization: `Bearer ${token}` },
  });
  const references = answer.references === 1 ? "1 reference" : `${answer.references} references`;
  $("enrol-result").textContent = `Enrolled ${answer.identity}: ${references} added.`;
  $("enrol-result").dataset.identity = answer.identity;
  $("enrol-result").hidden = false;
  await refreshStatus();
}

function start() {
  for (const [inputId, previewId] of [
    ["verify-first", "verify-first-preview"],
    ["verify-second", "verify-second-preview"],
    ["identify-image", "identify-preview"],
  ]) {
    const input = $(inputId);
    input.addEventListener("change", () => showPreview(input, $(previewId)));
    enableDrop(input);
  }
  const enrolImages = $("enrol-images");
  enrolImages.addEventListener("change", () => showPreviews(enrolImages, $("enrol-previews")));
  enableDrop(enrolImages);

  // The token lives only for this browser tab, never in the page or in lasting storage.
  const token = $("enrol-token");
  token.value = sessionStorage.getItem(TOKEN_KEY) || "";
  token.addEventListener("input", () => sessionStorage.setItem(TOKEN_KEY, token.value));

  $("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitWith($("verify-button"), "verify-error", verify);
  });
  $("identify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitWith($("identify-button"), "identify-error", identify);
  });
  $("enrol-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitWith($("enrol-button"), "enrol-error", enrol);
  });
  refreshStatus();
  document.body.dataset.ready = "true"; // lets automated tests wait until the handlers are attached
}

document.addEventListener("DOMContentLoaded", start);
