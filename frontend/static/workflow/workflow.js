// Keyboard-first annotation: digits answer the highlighted question and move on, Ctrl+Enter submits,
// S skips, ? opens the guidelines. Loaded as a static file (the page's CSP allows no inline script).
(function () {
  "use strict";
  const form = document.getElementById("answer-form");
  const dialog = document.getElementById("guidelines");
  const started = performance.now();
  const questions = form ? Array.from(form.querySelectorAll("fieldset.question")) : [];

  function toggleGuidelines() {
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }
  const gButton = document.getElementById("guidelines-btn");
  if (gButton) gButton.addEventListener("click", toggleGuidelines);
  const gClose = document.getElementById("guidelines-close");
  if (gClose) gClose.addEventListener("click", () => dialog.close());

  function answered(q) { return q.querySelector("input:checked") !== null; }
  function focusQuestion(q) {
    const target = q.querySelector("input:checked") || q.querySelector("input");
    if (target) target.focus();
    q.scrollIntoView({ block: "nearest" });
  }
  function markCurrent() {
    const current = currentQuestion();
    questions.forEach((q) => q.classList.toggle("current", q === current));
  }
  function currentQuestion() {
    const active = document.activeElement;
    const inside = active && active.closest ? active.closest("fieldset.question") : null;
    if (inside) return inside;
    return questions.find((q) => !answered(q)) || null;
  }
  function advance(from) {
    const index = questions.indexOf(from);
    const rest = questions.slice(index + 1);
    const next = rest.find((q) => !answered(q)) || questions.find((q) => !answered(q));
    if (next) { focusQuestion(next); return; }
    const text = form.querySelector("textarea");
    if (text) text.focus(); else document.getElementById("submit-btn").focus();
  }

  function showError(message, field) {
    const box = document.getElementById("form-error");
    if (box) { box.textContent = message; box.hidden = false; }
    if (field) {
      const holder = form.querySelector('[data-name="' + CSS.escape(field) + '"]');
      if (holder) {
        holder.classList.add("invalid");
        if (holder.tagName === "TEXTAREA") holder.focus(); else focusQuestion(holder);
      }
    }
  }

  function checked(name) {
    const input = form.querySelector('input[name="' + CSS.escape(name) + '"]:checked');
    return input ? input.value : undefined;
  }

  function collect() {
    const justification = form.querySelector("textarea").value;
    if (form.dataset.kind === "multipref") {
      const aspects = {}, reasons = {};
      form.querySelectorAll('fieldset.question input[data-aspect]:checked').forEach((i) => { aspects[i.dataset.aspect] = i.value; });
      form.querySelectorAll('fieldset.reasons input:checked').forEach((i) => {
        (reasons[i.dataset.aspect] = reasons[i.dataset.aspect] || []).push(i.value);
      });
      const answer = { aspects: aspects, reasons: reasons, justification: justification };
      const overall = checked("overall");
      if (overall !== undefined) answer.overall = overall;
      return answer;
    }
    const ratings = { "1": {}, "2": {} };
    form.querySelectorAll("fieldset.rating input:checked").forEach((i) => {
      ratings[i.dataset.side][i.dataset.attribute] = parseInt(i.value, 10);
    });
    const answer = { ratings: ratings, justification: justification };
    const preference = checked("preference");
    if (preference !== undefined) answer.preference = preference === "neither" ? "neither" : parseInt(preference, 10);
    return answer;
  }

  function csrf() { return form.querySelector('input[name="csrfmiddlewaretoken"]').value; }
  let busy = false;
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    return { ok: response.ok, data: data };
  }

  async function submitTask() {
    if (busy) return;
    form.querySelectorAll(".invalid").forEach((e) => e.classList.remove("invalid"));
    if (form.dataset.mode === "qualify") { form.submit(); return; }
    busy = true;
    const result = await post(form.dataset.submitUrl, { answer: collect(), time_ms: Math.round(performance.now() - started), lease_token: form.dataset.lease });
    if (result.ok) { window.location.assign(form.dataset.nextUrl); return; }
    busy = false;
    showError(result.data.detail || "The answer was not accepted.", result.data.field);
  }

  async function skipTask() {
    if (busy || form.dataset.mode !== "task") return;
    busy = true;
    const result = await post(form.dataset.skipUrl, { reason: "", lease_token: form.dataset.lease });
    if (result.ok) { window.location.assign(form.dataset.nextUrl); return; }
    busy = false;
    showError(result.data.detail || "Could not skip.");
  }

  const autofocus = document.querySelector("[data-autofocus]");
  if (autofocus) autofocus.focus();
  else if (questions.length) focusQuestion(questions[0]);

  if (form) {
    form.addEventListener("submit", (event) => { event.preventDefault(); submitTask(); });
    const skipButton = document.getElementById("skip-btn");
    if (skipButton) skipButton.addEventListener("click", skipTask);
    form.addEventListener("focusin", markCurrent);
    form.addEventListener("change", markCurrent);
    markCurrent();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (form) { event.preventDefault(); submitTask(); }
      return;
    }
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"));
    if (typing) { if (event.key === "Escape") target.blur(); return; }
    if (event.key === "?") { event.preventDefault(); toggleGuidelines(); return; }
    if ((dialog && dialog.open) || !form || event.ctrlKey || event.altKey || event.metaKey) return;
    if (event.key === "s" || event.key === "S") { event.preventDefault(); skipTask(); return; }
    if (/^[0-9]$/.test(event.key)) {
      const question = currentQuestion();
      if (!question) return;
      const input = question.querySelector('input[type="radio"][data-key="' + event.key + '"]');
      if (!input) return;
      event.preventDefault();
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      advance(question);
      markCurrent();
    }
  });
})();
