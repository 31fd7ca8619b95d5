// An instance's console log: read when asked (a worker reads Nova for the request), refreshed on demand. The
// card is made once per page and kept across the page's re-renders, so the text read stays while it polls.

import * as api from "../api.js";
import { field, fill, h, states, when } from "../dom.js";

/** The console card of one instance; `update(instance)` shows it only to those who may read it now. */
export function consoleCard(uuid) {
  const output = h("pre", { class: "console", tabindex: "0", "aria-label": "Console log", hidden: true });
  const status = h("div", { class: "muted small", role: "status" });
  const length = h("input", { name: "length", type: "number", min: 1, max: 1000, value: 100, inputmode: "numeric" });
  const button = h("button", { type: "button", dataset: { action: "console-log" } }, "Show the console log");
  const card = h("section", { class: "card", "aria-labelledby": "console-title", hidden: true },
    h("h2", { id: "console-title" }, "Console log"),
    h("p", { class: "hint" }, "What the server printed while it booted and ran, as the cloud keeps it."),
    h("div", { class: "action-row" }, field("Lines", length, "The last 1 to 1000 lines."), button),
    status, output);
  button.addEventListener("click", async () => {
    button.disabled = true;
    fill(status, "Reading the console…");
    try {
      const log = await api.get(`/api/instances/${uuid}/console_log/?length=${encodeURIComponent(length.value)}`);
      output.hidden = false;
      fill(output, log.lines.length ? log.lines.join("\n") : "(the console is empty)");
      fill(status, `${log.lines.length} line${log.lines.length === 1 ? "" : "s"}, read ${when(log.read_at)}.`);
      fill(button, "Refresh");
    } catch (error) {
      const messages = error.fieldErrors ? Object.values(error.fieldErrors()).flat() : [];
      fill(status, states.error(messages.length ? { message: messages.join(" ") } : error));
    } finally {
      button.disabled = false;
    }
  });
  return {
    card,
    update(instance) {
      card.hidden = !(instance.actions && instance.actions.console_log && instance.actions.console_log.enabled);
    },
  };
}
