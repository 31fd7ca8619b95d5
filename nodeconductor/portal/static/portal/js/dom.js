// Small DOM helpers. Text always goes in through textContent, never innerHTML, so API data cannot inject markup.

/** Build an element: h("button", {class: "primary", onclick: f}, "Save"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content; a focused element that is put back keeps the focus (pages reuse headings). */
export function fill(el, ...children) {
  const active = document.activeElement;
  el.replaceChildren();
  append(el, children);
  if (active && active !== document.activeElement && el.contains(active)) active.focus({ preventScroll: true });
  return el;
}

/** Tell screen-reader users what just happened (the polite live region of the page). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = message; }, 50);
}

let fieldIds = 0;

/** A labelled form field with a hint and an error slot that ApiError.fieldErrors() fills. */
export function field(label, control, hint) {
  const id = control.id || `f${++fieldIds}`;
  control.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const errorEl = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  control.setAttribute("aria-describedby", [hintEl && hintEl.id, errorEl.id].filter(Boolean).join(" "));
  return h("div", { class: "field", dataset: { field: control.name } }, h("label", { for: id }, label), control, hintEl, errorEl);
}

/** A select with a placeholder option; options are [value, label] pairs. */
export function select(name, options, { placeholder, value, required } = {}) {
  const el = h("select", { name, required });
  if (placeholder !== undefined) el.append(h("option", { value: "" }, placeholder));
  for (const [v, label] of options) el.append(h("option", { value: v, selected: v === value }, label));
  return el;
}

/** Show a 400's field errors at their fields; whatever has no field goes to the form's error box. */
export function showErrors(form, error) {
  clearErrors(form);
  const box = form.querySelector(".form-error");
  const errors = error.fieldErrors ? error.fieldErrors() : {};
  const leftover = [];
  let first = null;
  for (const [name, message] of Object.entries(errors)) {
    const control = form.elements.namedItem(name);
    const slot = control && form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
      control.setAttribute("aria-invalid", "true");
      first = first || control;
    } else {
      leftover.push(name === "non_field_errors" || name === "detail" ? message : `${name}: ${message}`);
    }
  }
  if (!Object.keys(errors).length) leftover.push(error.message);
  if (box && leftover.length) {
    box.textContent = leftover.join(" ");
    box.hidden = false;
  }
  (first || box)?.focus();
}

/** Remove the error messages of a form. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field-error, .form-error")) {
    slot.textContent = "";
    slot.hidden = true;
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

/** The box at the top of a form for errors that belong to no field. */
export function formError() {
  return h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
}

/** Wire a form: disable its submit button while `action(values)` runs, show errors, call done on success. */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    clearErrors(form);
    if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
    try {
      await action(Object.fromEntries(new FormData(form)));
    } catch (error) {
      showErrors(form, error);
    } finally {
      if (button && button.isConnected) { button.disabled = false; button.removeAttribute("aria-busy"); }
    }
  });
  return form;
}

/** Designed empty, loading and error states. */
export const states = {
  loading: (what) => h("p", { class: "loading", role: "status" }, `Loading ${what}…`),
  empty: (text, ...extra) => h("div", { class: "empty" }, h("p", {}, text), ...extra),
  error: (error, retry) =>
    h("div", { class: "error-box", role: "alert" }, h("p", {}, error.message || String(error)),
      retry ? h("button", { type: "button", onclick: retry }, "Try again") : null),
};

/** A state label as a coloured badge (colour is never the only signal: the text is the state). */
export function badge(state) {
  const kind = /erred/i.test(state) ? "bad" : /^(online|in sync)$/i.test(state) ? "good"
    : /^offline$/i.test(state) ? "idle" : "busy";
  return h("span", { class: `badge ${kind}` }, state);
}

/** Sizes in MiB as people read them. */
export function mib(value) {
  if (value === -1) return "unlimited";
  if (value >= 1024 && value % 1024 === 0) return `${value / 1024} GiB`;
  if (value >= 1024) return `${(value / 1024).toFixed(1)} GiB`;
  return `${value} MiB`;
}

/** A timestamp in the reader's locale. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}
