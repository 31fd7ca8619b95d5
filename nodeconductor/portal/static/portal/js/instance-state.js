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
    const given = instance.actions && instance.actions[name];
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
  if (instance.operation && !isDone(instance.operation)) return true;
  return !STABLE.includes(instance.state);
}

function isDone(operation) {
  return operation.done !== undefined && operation.total !== undefined && operation.done >= operation.total;
}

/**
 * What the instance is doing: {title, step, percent (null when unknown), waitingFor, since}, or null when idle.
 * Uses `operation` {name, step, done, total, waiting_for, since} when present, else the state alone.
 */
export function progressOf(instance) {
  const op = instance.operation;
  if (op && typeof op === "object") {
    const percent = op.total ? Math.max(0, Math.min(100, Math.round((100 * (op.done || 0)) / op.total))) : null;
    return {
      title: op.name ? `${capitalize(op.name)} ${instance.hostname}` : instance.state,
      step: op.step || "",
      percent,
      waitingFor: op.waiting_for || "",
      since: op.since || "",
      counts: op.total ? `step ${Math.min(op.done + 1, op.total)} of ${op.total}` : "",
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
