// Live job progress without a reload: every element with data-job-id polls /api/jobs/<id>/ while the job
// is pending or running, and shows its status, progress and error sentence. When a job ends and the element
// asks for it (data-reload-on-finish), the page reloads once so that what the job made is shown.
"use strict";

const ACTIVE = new Set(["pending", "running"]);
const POLL_MS = 1500;

function showJob(box, job) {
  const progress = job.progress || {};
  const status = box.querySelector("[data-role=status]");
  status.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
  status.className = "status status-" + job.status;
  const bar = box.querySelector("[data-role=bar]");
  if (bar) {
    bar.max = progress.total || 1;
    bar.value = Math.min(progress.done || 0, bar.max);
  }
  const counts = progress.total ? `${progress.done} / ${progress.total} ` : "";
  box.querySelector("[data-role=message]").textContent = counts + (progress.message || "");
  const error = box.querySelector("[data-role=error]");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  box.dataset.jobStatus = job.status;
}

async function poll(box) {
  const id = box.dataset.jobId;
  try {
    const reply = await fetch(`/api/jobs/${encodeURIComponent(id)}/`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!reply.ok) {
      box.querySelector("[data-role=message]").textContent = `progress unavailable (HTTP ${reply.status})`;
      return;
    }
    const job = await reply.json();
    showJob(box, job);
    if (ACTIVE.has(job.status)) {
      setTimeout(() => poll(box), POLL_MS);
    } else if (box.dataset.reloadOnFinish) {
      window.location.reload();
    }
  } catch (error) {
    setTimeout(() => poll(box), POLL_MS * 2);
  }
}

document.querySelectorAll("[data-job-id]").forEach((box) => {
  if (ACTIVE.has(box.dataset.jobStatus)) {
    setTimeout(() => poll(box), POLL_MS);
  }
});

// A status box for a job a script on the page started (the same parts as templates/frontend/_job.html).
function jobBox(id, label) {
  const box = document.createElement("div");
  box.className = "job-live";
  box.dataset.jobId = id;
  box.dataset.jobStatus = "pending";
  box.dataset.reloadOnFinish = "1";
  const parts = [
    ["span", "muted", `${label} #${id}`],
    ["span", "status status-pending", "Pending", "status"],
    ["progress", "", "", "bar"],
    ["span", "muted", "", "message"],
    ["div", "error job-error", "", "error"],
  ];
  for (const [tag, cls, text, role] of parts) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = text;
    if (role) el.dataset.role = role;
    if (role === "error") el.hidden = true;
    box.append(el, " ");
  }
  return box;
}

// The sentences in a DRF error body ({"field": ["..."]} or {"detail": "..."}).
function problems(body) {
  if (typeof body === "string") return [body];
  if (Array.isArray(body)) return body.flatMap(problems);
  if (body && typeof body === "object") {
    return Object.entries(body).flatMap(([field, value]) =>
      problems(value).map((text) => (field === "detail" || field === "non_field_errors" ? text : `${field}: ${text}`)),
    );
  }
  return [];
}

window.HybridPref = { jobBox, problems };

// A job started by a script on the page (the setup page's upload) is followed the same way.
window.addEventListener("hybridpref:job", (event) => poll(event.detail));

// One click, one job: a second click while the first request is on its way would start another.
document.querySelectorAll("form.one-shot").forEach((form) => {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.textContent = "Starting…";
    }
  });
});

// Pick a budget on the curve: a click on the plot sets the budget field to the share under the pointer.
const plot = document.getElementById("curve-img");
if (plot) {
  plot.addEventListener("click", (event) => {
    const box = plot.getBoundingClientRect();
    const left = parseFloat(plot.dataset.axesLeft);
    const width = parseFloat(plot.dataset.axesWidth);
    const share = ((event.clientX - box.left) / box.width - left) / width;
    const percent = Math.round(Math.min(1, Math.max(0, share)) * 100);
    const field = document.getElementById("pick-budget");
    field.value = `${percent}%`;
    field.form.submit();
  });
}
