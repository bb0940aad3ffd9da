// Descriptive tags and LM judging on the routing page: the admin-configured endpoints come from
// GET /api/lm-endpoints/ (names only, never a URL); a button posts {"endpoint", "limit"} to the project's
// tag-jobs or judge-jobs API and jobs.js follows the returned job live.
"use strict";

const lmBox = document.getElementById("lm-jobs");

async function loadEndpoints() {
  const reply = await fetch("/api/lm-endpoints/", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!reply.ok) return;
  const body = await reply.json();
  const endpoints = Array.isArray(body) ? body : body.results || [];
  if (!endpoints.length) return;
  const select = document.getElementById("lm-endpoint");
  for (const endpoint of endpoints) {
    const option = document.createElement("option");
    option.value = endpoint.name;
    option.textContent = `${endpoint.name} (${endpoint.model || endpoint.backend})`;
    select.append(option);
  }
  document.getElementById("lm-none").hidden = true;
  document.getElementById("lm-form").hidden = false;
}

async function startLmJob(form, kind) {
  const errors = document.getElementById("lm-errors");
  errors.hidden = true;
  const payload = { endpoint: form.elements.endpoint.value };
  if (form.elements.limit.value) payload.limit = Number(form.elements.limit.value);
  const reply = await fetch(`/api/projects/${encodeURIComponent(lmBox.dataset.project)}/${kind}/`, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": form.elements.csrfmiddlewaretoken.value,
    },
    body: JSON.stringify(payload),
  });
  const body = await reply.json().catch(() => ({ detail: `the server answered HTTP ${reply.status}` }));
  if (!reply.ok) {
    errors.textContent = window.HybridPref.problems(body).join(" ");
    errors.hidden = false;
    return;
  }
  const label = kind === "judge-jobs" ? "Judging job" : "Descriptive tags job";
  const box = window.HybridPref.jobBox(body.job, label);
  document.getElementById("lm-job").replaceChildren(box);
  window.dispatchEvent(new CustomEvent("hybridpref:job", { detail: box }));
}

if (lmBox) {
  const form = document.getElementById("lm-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    startLmJob(form, event.submitter ? event.submitter.dataset.kind : "tag-jobs");
  });
  loadEndpoints();
}
