// An instance's page: its state and progress, the actions it allows (disabled ones say why), resize, and events.

import * as api from "../api.js";
import { announce, badge, field, fill, formError, h, mib, onSubmit, select, states, when } from "../dom.js";
import { actionsOf, isBusy, progressOf } from "../instance-state.js";
import { backupsCard } from "./backups.js";
import { consoleCard } from "./console.js";
import { groupPicker, pickedGroups, ruleText } from "./security-groups.js";

const LABELS = { start: "Start", stop: "Stop", restart: "Restart", delete: "Delete",
  assign_floating_ip: "Assign floating IP", unassign_floating_ip: "Unassign floating IP" };
// Offered only when the API's `actions` name them (it reports them for instances that can have floating IPs).
const FIP_ACTIONS = ["assign_floating_ip", "unassign_floating_ip"];

function actionButton(name, allowed, run) {
  const reasonId = `reason-${name}`;
  return h("div", { class: "action" },
    h("button", { type: "button", dataset: { action: name }, class: name === "delete" ? "danger" : "",
      disabled: !allowed.enabled, "aria-describedby": allowed.enabled ? null : reasonId, title: allowed.reason || null,
      onclick: run }, LABELS[name]),
    allowed.enabled ? null : h("span", { class: "reason", id: reasonId }, allowed.reason));
}

function progressBox(instance) {
  const p = progressOf(instance);
  if (!p) return null;
  const bar = h("span");
  if (p.percent !== null) bar.style.width = `${p.percent}%`;
  return h("section", { class: "card progress", "aria-labelledby": "progress-title", dataset: { percent: p.percent ?? "" } },
    h("h2", { id: "progress-title" }, p.title),
    h("div", { class: `bar${p.percent === null ? " indeterminate" : ""}`, role: "progressbar", "aria-labelledby": "progress-title",
      "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": p.percent ?? null, "aria-valuetext": p.step }, bar),
    h("p", { class: "step" }, p.step, p.counts ? ` (${p.counts})` : "", p.percent !== null ? ` · ${p.percent}%` : ""),
    p.waitingFor ? h("p", { class: "muted" }, `Waiting for ${p.waitingFor}`, p.since ? ` since ${when(p.since)}` : "") : null);
}

function details(i) {
  const rows = [
    ["State", badge(i.state)], ["Project", h("a", { href: `#/projects/${api.uuidOf(i.project)}` }, i.project_name)],
    ["Cloud", i.cloud_name], ["Template", i.template_name], ["Flavor", i.flavor_name || "—"],
    ["vCPU / RAM", `${i.cores} vCPU, ${mib(i.ram)}`], ["Root volume", mib(i.system_volume_size)],
    ["Data volume", mib(i.data_volume_size)], ["SSH key", i.key_name ? `${i.key_name} (${i.key_fingerprint})` : "none"],
    ["Internal IPs", i.internal_ips || "—"], ["External IPs", i.external_ips || "—"],
    ["Started", when(i.start_time)], ["Created", when(i.created)],
  ];
  return h("dl", { class: "details" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function resizeForms(instance, flavors, allowed, after) {
  const disabled = !allowed.enabled;
  const note = disabled ? h("p", { class: "reason", id: "reason-resize" }, allowed.reason) : null;
  const describe = disabled ? "reason-resize" : null;
  const others = flavors.filter((f) => f.url !== instance.flavor);
  const flavorForm = h("form", { class: "inline", "aria-label": "Resize flavor" }, formError(),
    field("New flavor", select("flavor", others.map((f) => [f.url, `${f.name}: ${f.cores} vCPU, ${mib(f.ram)}`]),
      { placeholder: others.length ? "Choose a flavor" : "No other flavor" })),
    h("button", { type: "submit", dataset: { action: "resize-flavor" }, disabled, "aria-describedby": describe, title: allowed.reason || null }, "Resize flavor"));
  const diskForm = h("form", { class: "inline", "aria-label": "Resize data disk" }, formError(),
    field("New data volume size (MiB)", h("input", { name: "disk_size", inputmode: "numeric", value: instance.data_volume_size * 2 })),
    h("button", { type: "submit", dataset: { action: "resize-disk" }, disabled, "aria-describedby": describe, title: allowed.reason || null }, "Resize disk"));
  onSubmit(flavorForm, async ({ flavor }) => {
    await api.post(`${instance.url}resize/`, { flavor: flavor || null });
    after("Flavor resize was scheduled.");
  });
  onSubmit(diskForm, async ({ disk_size: size }) => {
    await api.post(`${instance.url}resize/`, { disk_size: /^\d+$/.test(size.trim()) ? Number(size) : size });
    after("Disk resize was scheduled.");
  });
  return h("section", { class: "card", "aria-labelledby": "resize-title" },
    h("h2", { id: "resize-title" }, "Resize"), note, h("div", { class: "grid-2" }, flavorForm, diskForm));
}

/**
 * The instance's groups, and the form that changes them while the API's `actions` allow
 * update_security_groups (the reason is shown otherwise). `pending` keeps the user's ticks across polls.
 */
function groupsCard(instance, used, available, pending, after) {
  const given = instance.actions && instance.actions.update_security_groups;
  const current = used.length
    ? h("ul", { class: "rules", id: "instance-groups" }, used.map((g) => h("li", {}, h("strong", {}, g.name), " ",
      h("span", { class: "muted small" }, g.rules.map(ruleText).join(", ") || "no rules"))))
    : h("p", { class: "muted", id: "instance-groups" }, "None of the project's groups: the tenant's default group only.");
  let change = null;
  if (given && given.enabled && !available.length) {
    change = h("p", { class: "muted" }, "Its cloud membership has no security groups to choose from.");
  } else if (given && given.enabled) {
    const ticked = pending.value || new Set(used.map((g) => g.url));
    const form = h("form", { class: "inline", novalidate: true, "aria-label": "Change security groups" }, formError(),
      groupPicker(available, { ticked, legend: "Groups of its cloud membership",
        onChange: () => { pending.value = new Set(pickedGroups(form)); } }),
      h("button", { type: "submit", dataset: { action: "update-security-groups" } }, "Apply groups"));
    onSubmit(form, async () => {
      await api.post(`${instance.url}update_security_groups/`, { security_groups: pickedGroups(form) });
      pending.value = null;
      after("The change of security groups was scheduled.");
    });
    change = form;
  } else if (given) {
    change = h("p", { class: "reason", id: "reason-update-security-groups" }, given.reason);
  }
  return h("section", { class: "card", "aria-labelledby": "groups-title" },
    h("h2", { id: "groups-title" }, "Security groups"), current, change);
}

function eventList(events) {
  if (!events.length) return states.empty("No events yet.");
  return h("ol", { class: "events" }, events.map((e) => h("li", { class: e.level === "error" ? "error" : "" },
    h("time", { datetime: e.created }, when(e.created)), " ", h("span", { class: "event-type" }, e.event_type), " ",
    e.message, e.user_username ? h("span", { class: "muted" }, ` · ${e.user_username}`) : null)));
}

/** #/instances/<uuid>: polls the instance (fast while a worker has it) and its events. */
export async function instancePage(main, { params: [uuid], poll, alive }) {
  const title = h("h1", {}, "Instance");
  const status = h("div", { class: "page-error", role: "alert" });
  const body = h("div", {}, states.loading("the instance"));
  fill(main, title, status, body);
  let flavors = null;
  let confirming = false;
  let seen = null; // {snapshot, project, busy} of the last rendering
  let gone = false;
  const pending = { value: null }; // the ticks of the groups form not yet applied
  const consoleLog = consoleCard(uuid);

  const run = async (name, request, message) => {
    fill(status);
    try {
      await request();
      announce(message);
      seen = seen && { ...seen, snapshot: "" };
      await refresh();
    } catch (error) {
      fill(status, states.error(error));
      // invalid_state: the page was behind the instance, so draw it again where it really is.
      if (seen && error.code === "invalid_state") seen.snapshot = "";
      await refresh();
    }
  };

  async function refresh() {
    if (gone) return;
    let instance;
    let events;
    let used;
    let available;
    let backups;
    let schedules;
    try {
      instance = await api.get(`/api/instances/${uuid}/`);
      [events, used, available, backups, schedules] = await Promise.all([
        api.request("GET", `/api/instances/${uuid}/events/?page_size=20`).then((r) => r.data),
        api.list("security-groups", { instance: uuid, o: "name" }).then((r) => r.items),
        api.list("security-groups", { membership: api.uuidOf(instance.cloud_project_membership), o: "name" }).then((r) => r.items),
        api.list("backups", { instance: uuid, o: "-created" }).then((r) => r.items),
        api.list("backup-schedules", { instance: uuid, o: "created" }).then((r) => r.items),
      ]);
      if (flavors === null) flavors = (await api.list("flavors", { cloud: api.uuidOf(instance.cloud), is_active: "true", o: "ram" })).items;
    } catch (error) {
      if (error.status === 404 && seen) {
        gone = true;
        fill(title, "Instance deleted");
        return fill(body, states.empty("The instance and its volumes were deleted.", h("a", { href: seen.project }, "Back to the project")));
      }
      return fill(body, states.error(error, refresh));
    }
    if (!alive()) return;
    const snapshot = JSON.stringify([instance, events, confirming, used, available, backups, schedules]);
    if (seen && snapshot === seen.snapshot) return;
    // A backup being taken, restored from or deleted keeps the page polling fast too.
    const backupBusy = backups.some((b) => ["Backing up", "Restoring", "Deleting"].includes(b.state));
    seen = { snapshot, project: `#/projects/${api.uuidOf(instance.project)}`, busy: isBusy(instance) || backupBusy };
    const rerender = () => { seen.snapshot = ""; refresh(); };
    const allowed = actionsOf(instance);
    const after = (message) => run("resize", async () => {}, message);
    const deleteArea = confirming
      ? h("div", { class: "confirm", role: "group", "aria-label": "Confirm deletion" },
        h("p", {}, `Delete ${instance.hostname} and both its volumes? This cannot be undone.`),
        h("button", { type: "button", class: "danger", dataset: { action: "confirm-delete" },
          onclick: () => { confirming = false; run("delete", () => api.remove(instance.url), "Deletion was scheduled."); } }, "Yes, delete"),
        h("button", { type: "button", onclick: () => { confirming = false; rerender(); } }, "Cancel"))
      : actionButton("delete", allowed.delete, () => { confirming = true; rerender(); });
    const fipActions = FIP_ACTIONS.filter((name) => instance.actions && instance.actions[name]).map((name) =>
      actionButton(name, instance.actions[name],
        () => run(name, () => api.post(`${instance.url}${name}/`, {}), `${LABELS[name]} was scheduled.`)));
    // Re-rendering replaces the buttons: keep keyboard focus on the same action.
    const focused = document.activeElement?.dataset?.action;
    fill(title, instance.hostname, " ", badge(instance.state));
    consoleLog.update(instance);
    fill(body,
      h("p", {}, h("a", { href: seen.project }, `← ${instance.project_name}`), h("span", { class: "muted" }, ` · ${instance.customer_name}`)),
      instance.error_message ? h("div", { class: "error-box", role: "alert" }, h("p", {}, h("strong", {}, "Error: "), instance.error_message)) : null,
      progressBox(instance),
      h("section", { class: "card", "aria-labelledby": "actions-title" }, h("h2", { id: "actions-title", tabindex: "-1" }, "Actions"),
        h("div", { class: "action-row" },
          ["start", "stop", "restart"].map((name) => actionButton(name, allowed[name],
            () => run(name, () => api.post(`${instance.url}${name}/`), `${LABELS[name]} was scheduled.`))),
          deleteArea),
        fipActions.length ? [h("h3", { class: "subhead" }, "Floating IP"), h("div", { class: "action-row" }, fipActions)] : null),
      resizeForms(instance, flavors, allowed.resize, after),
      groupsCard(instance, used, available, pending, after),
      backupsCard(instance, backups, schedules, flavors, (request, message) => run("backup", request, message), after),
      consoleLog.card,
      h("div", { class: "grid-2" },
        h("section", { class: "card", "aria-labelledby": "details-title" }, h("h2", { id: "details-title" }, "Details"), details(instance)),
        h("section", { class: "card", "aria-labelledby": "events-title" }, h("h2", { id: "events-title" }, "Events"), eventList(events))));
    const again = focused && body.querySelector(`[data-action="${focused}"]`);
    if (again) (again.disabled ? body.querySelector("#actions-title") : again).focus?.();
  }

  let ticks = 0;
  await poll(async () => {
    // Every second while a worker has the instance, every fifth second when it is idle.
    ticks += 1;
    if (seen && !seen.busy && ticks % 5) return;
    await refresh();
  }, 1000);
}
