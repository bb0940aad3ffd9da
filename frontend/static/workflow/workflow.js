// The annotator's pages, keyboard first (keys listed in the page's "Guidelines & keys" dialog and in
// docs/ANNOTATING.md). Loaded as a static file: the pages' CSP allows no inline script and no eval.
//
// Digits answer the highlighted question and move on; reasons take digits too (Enter moves on); J opens the
// justification and Esc leaves it, so keys never land in text by accident; Ctrl+Enter submits; S skips
// with a reason (one key each) and U takes the skip back; ? shows guidelines and keys. Unsent answers are
// kept in localStorage per task and lease, so a reload loses nothing.
(function () {
  "use strict";
  const form = document.getElementById("answer-form");
  const guidelines = document.getElementById("guidelines");
  const skipDialog = document.getElementById("skip-dialog");
  const toolbar = document.getElementById("annotate-toolbar");
  const project = (form && form.dataset.project) || (toolbar && toolbar.dataset.project) || "";
  const questions = form ? Array.from(form.querySelectorAll("fieldset.question")) : [];
  const text = form ? form.querySelector("textarea") : null;
  const submitButton = document.getElementById("submit-btn");
  const started = performance.now();
  let busy = false;
  let warned = false; // a warning was shown for the current answer; the next submit goes through

  function storage(kind) {
    try { return window[kind]; } catch (e) { return null; }
  }
  const local = storage("localStorage");
  const session = storage("sessionStorage");
  function readJSON(store, key) {
    try { return store ? JSON.parse(store.getItem(key) || "null") : null; } catch (e) { return null; }
  }
  function writeJSON(store, key, value) {
    try { if (store) store.setItem(key, JSON.stringify(value)); } catch (e) { /* full or disabled: no draft */ }
  }

  // ------------------------------------------------------------------ flash messages across a navigation
  function flashNext(message) { writeJSON(session, "hp-flash", message); }
  function showFlash(message) {
    const box = document.getElementById("flash");
    if (!box || !message) return;
    box.textContent = message;
    box.hidden = false;
  }
  const pending = readJSON(session, "hp-flash");
  if (pending) { showFlash(pending); if (session) session.removeItem("hp-flash"); }

  // ------------------------------------------------------------------ dialogs
  function focusAfterDialog() {
    const editing = form && form.dataset.mode === "edit";
    const first = questions.find(isPending) || (editing ? questions[0] : null);
    if (first) focusQuestion(first);
    else if (submitButton) submitButton.focus();
  }
  function toggleGuidelines() {
    if (!guidelines) return;
    if (guidelines.open) guidelines.close(); else guidelines.showModal();
  }
  const gButton = document.getElementById("guidelines-btn");
  if (gButton) gButton.addEventListener("click", toggleGuidelines);
  const gClose = document.getElementById("guidelines-close");
  if (gClose) gClose.addEventListener("click", () => guidelines.close());
  if (guidelines) guidelines.addEventListener("close", focusAfterDialog);
  function guidelinesOnLoad() {
    if (!guidelines) return false;
    const mode = guidelines.dataset.openOnLoad;
    const key = "hp-guidelines-seen:" + project;
    const open = mode === "always" || (mode === "session" && !(session && session.getItem(key)));
    if (mode === "session" && session) session.setItem(key, "1");
    if (!open) { if (gClose && mode) gClose.firstChild.textContent = "Close "; return false; }
    guidelines.showModal();
    return true;
  }

  // ------------------------------------------------------------------ questions and the digit flow
  function isReasons(q) { return q.classList.contains("reasons"); }
  function answered(q) { return q.querySelector("input:checked") !== null; }
  function isPending(q) { return isReasons(q) ? false : !answered(q); }
  function focusQuestion(q) {
    const target = q.querySelector("input:checked") || q.querySelector("input");
    if (target) target.focus();
    q.scrollIntoView({ block: "nearest" });
    markCurrent();
  }
  function currentQuestion() {
    const active = document.activeElement;
    const inside = active && active.closest ? active.closest("fieldset.question") : null;
    if (inside) return inside;
    return questions.find(isPending) || null;
  }
  function markCurrent() {
    const current = currentQuestion();
    questions.forEach((q) => q.classList.toggle("current", q === current));
  }
  function advance(from) {
    from.dataset.visited = "1";
    const index = questions.indexOf(from);
    const following = questions[index + 1];
    if (following && isReasons(following) && !following.dataset.visited && !isReasons(from)) {
      focusQuestion(following);
      return;
    }
    const next = questions.slice(index + 1).find(isPending) || questions.find(isPending);
    if (next) { focusQuestion(next); return; }
    // Done: focus goes to Submit, never into the text field (a stray digit would land there).
    if (submitButton) submitButton.focus();
    markCurrent();
    if (text && text.dataset.required === "true" && !text.value.trim()) {
      showFlash("All questions answered. Press J to write the justification, then Ctrl+Enter.");
    }
  }
  function pressDigit(key) {
    const question = currentQuestion();
    if (!question) return false;
    const input = question.querySelector('input[data-key="' + key + '"]');
    if (!input) return false;
    if (input.type === "checkbox") {
      input.checked = !input.checked;
      input.focus();
      input.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    advance(question);
    return true;
  }

  // ------------------------------------------------------------------ the answer
  function checked(name) {
    const input = form.querySelector('input[name="' + CSS.escape(name) + '"]:checked');
    return input ? input.value : undefined;
  }
  function collect() {
    const justification = text ? text.value : "";
    if (form.dataset.kind === "multipref") {
      const aspects = {}, reasons = {};
      form.querySelectorAll("fieldset.scale input[data-aspect]:checked").forEach((i) => { aspects[i.dataset.aspect] = i.value; });
      form.querySelectorAll("fieldset.reasons input:checked").forEach((i) => {
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
  function tick(selector) {
    const input = form.querySelector(selector);
    if (input) input.checked = true;
  }
  function apply(answer) {
    if (!answer || typeof answer !== "object") return;
    const value = (v) => CSS.escape(String(v));
    if (form.dataset.kind === "multipref") {
      if (answer.overall !== undefined) tick('input[name="overall"][value="' + value(answer.overall) + '"]');
      Object.entries(answer.aspects || {}).forEach(([aspect, v]) => {
        tick('input[name="aspect-' + value(aspect) + '"][value="' + value(v) + '"]');
      });
      Object.entries(answer.reasons || {}).forEach(([aspect, list]) => {
        (Array.isArray(list) ? list : []).forEach((r) => tick('input[name="reason-' + value(aspect) + '"][value="' + value(r) + '"]'));
      });
    } else {
      ["1", "2"].forEach((side) => Object.entries((answer.ratings || {})[side] || {}).forEach(([attribute, v]) => {
        tick('input[name="rating-' + side + "-" + value(attribute) + '"][value="' + value(v) + '"]');
      }));
      if (answer.preference !== undefined) tick('input[name="preference"][value="' + value(answer.preference) + '"]');
    }
    if (text && typeof answer.justification === "string") text.value = answer.justification;
  }

  // ------------------------------------------------------------------ drafts (kept per task and lease)
  function draftKey() {
    return "hp-draft:" + project + ":" + form.dataset.mode + ":" + form.dataset.task;
  }
  function saveDraft() {
    if (!form || form.dataset.mode === "qualify") return;
    writeJSON(local, draftKey(), {
      instance: form.dataset.instance, lease: form.dataset.lease || "", answer: collect(), saved: Date.now(),
    });
  }
  function dropDraft() { try { if (local) local.removeItem(draftKey()); } catch (e) { /* nothing kept */ } }
  function restoreDraft() {
    const draft = readJSON(local, draftKey());
    const fresh = draft && Date.now() - (draft.saved || 0) < 7 * 24 * 3600 * 1000;
    const sameLease = draft && (!draft.lease || !form.dataset.lease || draft.lease === form.dataset.lease);
    if (!fresh || draft.instance !== form.dataset.instance || !sameLease) return false;
    apply(draft.answer);
    showFlash("Your unsent answers to this task were restored.");
    return true;
  }

  // ------------------------------------------------------------------ errors and warnings
  function clearErrors() {
    form.querySelectorAll(".invalid").forEach((e) => e.classList.remove("invalid"));
    form.querySelectorAll(".field-error").forEach((e) => e.remove());
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const box = document.getElementById("form-error");
    box.hidden = true;
    box.textContent = "";
  }
  function showErrors(data) {
    const box = document.getElementById("form-error");
    const errors = data.errors && typeof data.errors === "object" ? data.errors : {};
    const general = [];
    let first = null;
    Object.entries(errors).forEach(([field, messages]) => {
      const words = (Array.isArray(messages) ? messages : [String(messages)]).join(" ");
      const holder = form.querySelector('[data-name="' + CSS.escape(field) + '"]');
      if (!holder) { general.push(words); return; }
      holder.classList.add("invalid");
      const note = document.createElement("p");
      note.className = "field-error error";
      note.id = "error-" + field.replace(/[^a-z0-9]/gi, "-");
      note.textContent = words;
      holder.appendChild(note);
      holder.querySelectorAll("input, textarea").forEach((i) => {
        i.setAttribute("aria-invalid", "true");
        i.setAttribute("aria-describedby", note.id);
      });
      first = first || holder;
    });
    const count = Object.keys(errors).length;
    box.textContent = count
      ? count + (count === 1 ? " answer needs" : " answers need") + " attention; each is marked where it is." + (general.length ? " " + general.join(" ") : "")
      : (data.detail || "The answer was not accepted.");
    box.hidden = false;
    if (first && first.classList.contains("justification")) text.focus();
    else if (first) focusQuestion(first);
    else box.scrollIntoView({ block: "nearest" });
  }
  function statedSide(words) {
    const match = /@Response\s*([12])\b[^.!?\n]{0,80}?\bbetter\b/i.exec(words || "");
    return match ? (match[1] === "1" ? -1 : 1) : 0;
  }
  function optionLabel(name, value) {
    const input = form.querySelector('input[name="' + name + '"][value="' + CSS.escape(String(value)) + '"]');
    return input ? input.closest("label").textContent.replace(/\s+/g, " ").trim().replace(/^\d\s*/, "") : String(value);
  }
  function warnings(answer) {
    const found = [];
    const seconds = Math.round((performance.now() - started) / 1000);
    const least = parseInt(form.dataset.minSeconds || "0", 10);
    if (form.dataset.mode === "task" && seconds < least) {
      found.push("You spent " + seconds + " s on this task; this project expects at least " + least +
        " s. Unusually fast answers are flagged for review.");
    }
    if (form.dataset.kind === "helpsteer2" && typeof answer.preference === "number") {
      const stated = statedSide(answer.justification);
      if (stated && stated !== Math.sign(answer.preference)) {
        found.push("Your justification says @Response " + (stated < 0 ? "1" : "2") +
          " is better, but your choice is “" + optionLabel("preference", answer.preference) + "”.");
      }
    }
    return found;
  }
  function showWarning(lines) {
    document.getElementById("form-warning-text").textContent = lines.join(" ") + " Submit anyway, or fix it.";
    const box = document.getElementById("form-warning");
    box.hidden = false;
    document.getElementById("warning-submit").focus();
  }
  function hideWarning() {
    const box = document.getElementById("form-warning");
    if (box) box.hidden = true;
  }

  // ------------------------------------------------------------------ talking to the server
  function csrf() { return document.querySelector('input[name="csrfmiddlewaretoken"]').value; }
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
  async function submitTask(force) {
    if (busy) return;
    if (form.dataset.mode === "qualify") { form.submit(); return; }
    const answer = collect();
    if (!force && !warned) {
      const lines = warnings(answer);
      if (lines.length) { warned = true; showWarning(lines); return; }
    }
    hideWarning();
    clearErrors();
    busy = true;
    const editing = form.dataset.mode === "edit";
    const body = editing ? { answer: answer }
      : { answer: answer, time_ms: Math.round(performance.now() - started), lease_token: form.dataset.lease };
    const result = await post(form.dataset.submitUrl, body);
    busy = false;
    if (!result.ok) { showErrors(result.data); return; }
    dropDraft();
    flashNext(editing ? "Saved your change to task " + form.dataset.task + " (the earlier answer is kept in its history)."
      : "Submitted task " + form.dataset.task + ". You can still change it under “Your recent work” (R).");
    window.location.assign(form.dataset.nextUrl);
  }
  function openSkip() {
    if (!skipDialog || !form || form.dataset.mode !== "task") return;
    skipDialog.showModal();
    skipDialog.querySelector(".skip-reason").focus();
  }
  async function skipWith(reason) {
    if (busy) return;
    busy = true;
    const result = await post(form.dataset.skipUrl, { reason: reason, lease_token: form.dataset.lease });
    busy = false;
    if (skipDialog.open) skipDialog.close();
    if (!result.ok) { showErrors({ detail: result.data.detail || "Could not skip this task." }); return; }
    dropDraft();
    const undoUrl = form.dataset.unskipUrlTemplate.replace(/\/0\/unskip\/$/, "/" + form.dataset.task + "/unskip/");
    writeJSON(session, "hp-last-skip:" + project, { task: form.dataset.task, url: undoUrl });
    const label = skipDialog.querySelector('[data-reason="' + CSS.escape(reason) + '"]');
    flashNext("Skipped task " + form.dataset.task + " (" + (label ? label.textContent.replace(/^\s*\d\s*/, "").trim() : reason) +
      "); it goes to someone else. Press U to undo.");
    window.location.assign(form.dataset.nextUrl);
  }
  async function undoSkip(url, task) {
    if (busy || !url) return;
    busy = true;
    const showing = form && form.dataset.mode === "task" ? parseInt(form.dataset.task, 10) : null;
    const result = await post(url, { release: showing }); // the task on screen goes back, the skipped one returns
    busy = false;
    if (session) session.removeItem("hp-last-skip:" + project);
    if (!result.ok) { showFlash(result.data.detail || "The skip could not be undone."); return; }
    flashNext("Task " + task + " is back: it is your current task again.");
    window.location.assign(window.location.pathname.replace(/\/task\/.*$/, "/task/"));
  }
  function undoLastSkip() {
    const last = readJSON(session, "hp-last-skip:" + project);
    if (last) undoSkip(last.url, last.task);
  }

  // ------------------------------------------------------------------ narrow screens: one response at a time
  const tabs = Array.from(document.querySelectorAll('.response-tabs [role="tab"]'));
  function showResponse(index) {
    tabs.forEach((tab, i) => {
      tab.setAttribute("aria-selected", i === index ? "true" : "false");
      document.getElementById(tab.getAttribute("aria-controls")).classList.toggle("shown", i === index);
    });
  }
  tabs.forEach((tab, i) => tab.addEventListener("click", () => showResponse(i)));

  // ------------------------------------------------------------------ timers
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + r : m + ":" + r;
  }
  const leaseTimer = document.getElementById("lease-timer");
  const sessionTimer = document.getElementById("session-timer");
  const expires = leaseTimer ? Date.parse(leaseTimer.dataset.expires) : NaN;
  let sessionStart = parseInt((session && session.getItem("hp-session-start")) || "0", 10);
  if (!sessionStart) { sessionStart = Date.now(); if (session) session.setItem("hp-session-start", String(sessionStart)); }
  function tickTimers() {
    if (leaseTimer && !isNaN(expires)) {
      const left = (expires - Date.now()) / 1000;
      leaseTimer.textContent = left > 0 ? "Lease " + clock(left) + " left" : "Lease expired: submit now; the task may go to someone else";
      leaseTimer.classList.toggle("error", left < 120);
    }
    if (sessionTimer) sessionTimer.textContent = "Session " + clock((Date.now() - sessionStart) / 1000);
  }
  tickTimers();
  setInterval(tickTimers, 1000);

  // ------------------------------------------------------------------ wiring
  document.querySelectorAll("button.unskip").forEach((button) => {
    button.addEventListener("click", () => undoSkip(button.dataset.unskipUrl, button.closest("li").dataset.task));
  });
  if (skipDialog) {
    skipDialog.querySelectorAll(".skip-reason").forEach((b) => b.addEventListener("click", () => skipWith(b.dataset.reason)));
    document.getElementById("skip-cancel").addEventListener("click", () => skipDialog.close());
    skipDialog.addEventListener("close", focusAfterDialog);
  }
  if (form) {
    form.addEventListener("submit", (event) => { event.preventDefault(); submitTask(false); });
    const skipButton = document.getElementById("skip-btn");
    if (skipButton) skipButton.addEventListener("click", openSkip);
    const again = document.getElementById("warning-submit");
    if (again) again.addEventListener("click", () => submitTask(true));
    const fix = document.getElementById("warning-fix");
    if (fix) fix.addEventListener("click", () => { hideWarning(); warned = false; focusAfterDialog(); });
    form.addEventListener("focusin", markCurrent);
    // A changed answer is checked again. (Not the text field's own "change": it fires when the focus leaves
    // the field, which is what showing a warning does.)
    const changed = () => { warned = false; hideWarning(); saveDraft(); };
    form.addEventListener("change", (event) => { if (event.target !== text) changed(); markCurrent(); });
    if (text) {
      text.addEventListener("input", changed);
      const needs = form.querySelector(".justification label");
      text.dataset.required = needs && /required/.test(needs.textContent) ? "true" : "false";
    }
    const given = document.getElementById("given-answer");
    if (!restoreDraft() && given) {
      try { apply(JSON.parse(given.textContent)); } catch (e) { /* no answer to show */ }
    }
    markCurrent();
  }
  const dialogShown = guidelinesOnLoad();
  const autofocus = document.querySelector("[data-autofocus]");
  if (!dialogShown) {
    if (autofocus) autofocus.focus();
    else if (questions.length) focusAfterDialog();
  }
  // Back/forward cache would show stale counts and leases: reload instead.
  window.addEventListener("pageshow", (event) => { if (event.persisted) window.location.reload(); });

  document.addEventListener("keydown", (event) => {
    const modified = event.ctrlKey || event.altKey || event.metaKey;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (form && !(skipDialog && skipDialog.open)) { event.preventDefault(); submitTask(warned); }
      return;
    }
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(target.type)));
    if (typing) {
      if (event.key === "Escape") { event.preventDefault(); target.blur(); if (submitButton) submitButton.focus(); }
      return; // every other key types text
    }
    if (skipDialog && skipDialog.open) {
      const reason = skipDialog.querySelector('.skip-reason[data-key="' + event.key + '"]');
      if (reason && !modified) { event.preventDefault(); skipWith(reason.dataset.reason); }
      return; // Esc closes the dialog natively
    }
    if (event.key === "?") { event.preventDefault(); toggleGuidelines(); return; }
    if ((guidelines && guidelines.open) || modified) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "Escape") {
      const box = document.getElementById("form-warning");
      if (box && !box.hidden) { hideWarning(); warned = false; focusAfterDialog(); }
      return;
    }
    if (key === "u") { event.preventDefault(); undoLastSkip(); return; }
    if (key === "r") {
      const first = document.querySelector("#recent-work a, #recent-work button");
      if (first) { event.preventDefault(); first.focus(); first.scrollIntoView({ block: "nearest" }); }
      return;
    }
    if (key === "[" || key === "]") { event.preventDefault(); showResponse(key === "[" ? 0 : 1); return; }
    if (!form) return;
    if (key === "s") { event.preventDefault(); openSkip(); return; }
    if (key === "j" && text) { event.preventDefault(); text.focus(); return; }
    if (key === "Enter") {
      const question = target && target.closest ? target.closest("fieldset.question") : null;
      if (question) { event.preventDefault(); advance(question); }
      return; // elsewhere Enter keeps its meaning (a focused button or link)
    }
    if (/^[0-9]$/.test(key) && pressDigit(key)) event.preventDefault();
  });
})();
