// The setup page's upload: the file goes to the import API (POST /api/projects/<name>/imports/), whose
// reply is a job; its live progress is then shown by jobs.js's poller, and the importer's sentences (line,
// field) appear under the form when the import fails.
"use strict";

const uploadForm = document.getElementById("upload-form");

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

function jobBox(job) {
  const box = document.createElement("div");
  box.className = "job-live";
  box.dataset.jobId = job.id;
  box.dataset.jobStatus = job.status;
  box.dataset.reloadOnFinish = "1";
  const parts = [
    ["span", "muted", `Import job #${job.id}`],
    ["span", "status status-" + job.status, job.status, "status"],
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

if (uploadForm) {
  uploadForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = document.getElementById("upload-errors");
    const button = document.getElementById("upload-button");
    errors.hidden = true;
    button.disabled = true;
    const data = new FormData(uploadForm);
    if (!data.get("format")) data.delete("format");
    const token = data.get("csrfmiddlewaretoken");
    data.delete("csrfmiddlewaretoken");
    try {
      const reply = await fetch(uploadForm.dataset.url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token, Accept: "application/json" },
      });
      const body = await reply.json().catch(() => ({ detail: `the server answered HTTP ${reply.status}` }));
      if (!reply.ok) {
        errors.textContent = problems(body).join(" ");
        errors.hidden = false;
        return;
      }
      const box = jobBox(body);
      document.getElementById("upload-job").replaceChildren(box);
      window.dispatchEvent(new CustomEvent("hybridpref:job", { detail: box }));
    } catch (error) {
      errors.textContent = `The upload did not reach the server: ${error}`;
      errors.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}
