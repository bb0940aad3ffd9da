// The setup page's upload: the file goes to the import API (POST /api/projects/<name>/imports/), whose
// reply is a job; jobs.js then follows its progress live, and the importer's sentences (line, field)
// appear under the form when the request itself is refused.
"use strict";

const uploadForm = document.getElementById("upload-form");

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
        errors.textContent = window.HybridPref.problems(body).join(" ");
        errors.hidden = false;
        return;
      }
      const box = window.HybridPref.jobBox(body.id, "Import job");
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
