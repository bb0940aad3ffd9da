// The project dashboard (frontend/templates/frontend/dashboard.html). Loaded as a file: the page's
// Content-Security-Policy allows no inline script.
"use strict";

// One click, one export job: a second click while the first request is on its way would start another.
document.querySelectorAll("form.export-form").forEach((form) => {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.textContent = "Starting…";
    }
  });
});
