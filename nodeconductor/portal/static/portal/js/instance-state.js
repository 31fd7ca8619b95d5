// What an instance allows and what it is doing: from the API's `actions` and `operation` when the instance
// body has them, and otherwise derived from `state` with the same rules as the API's state machine.

export const ACTIONS = ["start", "stop", "restart", "resize", "delete"];

const STABLE = ["Online", "Offline", "Erred"];

// The state each action needs, with the reason shown on its disabled button (as the API's 409 would say).
const RULES = {
  start: { from: ["Offline"], reason: "Must be stopped (Offline) to be started." },
  stop: { from: ["Online"], reason: "Must be running (Online) to be stopped." },
  restart: { from: ["Online"], reason: "Must be running (Online) to be restarted." },
  resize: { from: ["Offline"], reason: "Must be stopped (Offline) to be resized: stop it first." },
  delete: { from: ["Offline", "Erred"], reason: "Must be stopped (Offline) or Erred to be deleted." },
};

/** {name: {enabled, reason}} for every action the portal offers. */
export function actionsOf(instance) {
  const out = {};
  for (const name of ACTIONS) {
    // The API names the two resizes apart; both need the same state, so the flavor one speaks for "resize".
    const given = instance.actions && instance.actions[name === "resize" ? "resize_flavor" : name];
    if (given && typeof given.enabled === "boolean") {
      out[name] = { enabled: given.enabled, reason: given.reason || "" };
      continue;
    }
    const rule = RULES[name];
    const enabled = rule.from.includes(instance.state);
    let reason = "";
    if (!enabled) reason = STABLE.includes(instance.state) ? rule.reason : `Wait: the instance is ${instance.state}.`;
    out[name] = { enabled, reason };
  }
  return out;
}

/** Whether a worker is busy with the instance, so the portal keeps polling it quickly. */
export function isBusy(instance) {
  const op = instance.operation;
  if (op && typeof op === "object" && op.state) return op.state !== "failed";
  return !STABLE.includes(instance.state);
}

/**
 * What the instance is doing: {title, step, percent (null when unknown), waitingFor, since}, or null when idle.
 * Uses the API's `operation` {name, state, step, steps_done, steps_total, waiting_for, waiting_since, started}
 * when present (an operation that failed is shown through the state and error message), else the state alone.
 */
export function progressOf(instance) {
  const op = instance.operation;
  if (op && typeof op === "object") {
    if (op.state === "failed") return null;
    const queued = op.state === "queued";
    const done = op.steps_done || 0;
    const total = op.steps_total || 0;
    const percent = total ? Math.max(0, Math.min(100, Math.round((100 * done) / total))) : null;
    return {
      title: op.name ? `${capitalize(op.name.replace("_", " "))} ${instance.hostname}` : instance.state,
      step: queued ? "Queued for a worker" : (op.state === "cleaning up" ? "Cleaning up: " : "") + (op.step || ""),
      percent: queued ? null : percent,
      waitingFor: queued ? "a free worker" : op.waiting_for || "",
      since: op.waiting_since || op.started || instance.modified || "",
      counts: total && !queued ? `step ${Math.min(done + 1, total)} of ${total}` : "",
    };
  }
  if (STABLE.includes(instance.state)) return null;
  const scheduled = /Scheduled$/.test(instance.state);
  return {
    title: instance.state,
    step: scheduled ? "Queued for a worker" : "A worker is talking to the cloud",
    percent: null,
    waitingFor: scheduled ? "a free worker" : "the cloud",
    since: instance.modified || "",
    counts: "",
  };
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
