// An instance's backups on its page: "Back up now", each backup with Restore and Delete (or why not), and the
// instance's backup schedules with their next run in the reader's time. Everything the API refuses shows its words.

import * as api from "../api.js";
import { badge, field, formError, h, mib, onSubmit, select, states, when } from "../dom.js";

/** The reader's IANA time zone: a new schedule's default, so "02:00" means the reader's night. */
export function readerZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

// The API's reason for the people who only read an instance (managers, owners): they get no forms to fill.
const NOT_ADMIN = "Only project administrators and staff operate instances.";

function reason(id, allowed) {
  return allowed && !allowed.enabled ? h("span", { class: "reason", id }, allowed.reason) : null;
}

function backupNow(instance, after) {
  const allowed = instance.actions && instance.actions.backup;
  if (!allowed) return null;
  const form = h("form", { class: "inline", "aria-label": "Back up now" }, formError(),
    field("Description", h("input", { name: "description", maxlength: 255 }), "Optional, e.g. before the upgrade."),
    h("button", { type: "submit", dataset: { action: "backup" }, disabled: !allowed.enabled,
      "aria-describedby": allowed.enabled ? null : "reason-backup" }, "Back up now"),
    reason("reason-backup", allowed));
  onSubmit(form, async ({ description }) => {
    await api.post("/api/backups/", { backup_source: instance.url, description });
    after("The backup was scheduled.");
  });
  const running = instance.state === "Online"
    ? h("p", { class: "hint" }, "The VM is running: its backup is crash-consistent, as if its power had been cut.")
    : null;
  return [form, running];
}

function restoreForm(backup, flavors) {
  const allowed = backup.actions.restore;
  const id = `restore-${backup.uuid}`;
  const form = h("form", { class: "inline", "aria-label": `Restore the backup of ${when(backup.created)}` }, formError(),
    field("Flavor", select("flavor", flavors.map((f) => [f.url, `${f.name}: ${f.cores} vCPU, ${mib(f.ram)}`]),
      { placeholder: "Choose a flavor" })),
    field("Host name", h("input", { name: "hostname", value: `${backup.metadata.hostname || "vm"}-restored` })),
    h("button", { type: "submit", dataset: { action: "restore" }, disabled: !allowed.enabled,
      "aria-describedby": allowed.enabled ? null : `${id}-reason` }, "Restore"),
    reason(`${id}-reason`, allowed));
  onSubmit(form, async ({ flavor, hostname }) => {
    const made = await api.post(`${backup.url}restore/`, { flavor: flavor || null, hostname });
    window.location.hash = `#/instances/${made.uuid}`;
  });
  return form;
}

function backupRow(backup, flavors, run) {
  const op = backup.operation;
  const waiting = op && op.waiting_for ? h("span", { class: "muted small" }, ` waiting for ${op.waiting_for}`) : null;
  const remove = backup.actions.delete;
  return h("li", { class: "backup", dataset: { uuid: backup.uuid } },
    h("p", {}, h("strong", {}, when(backup.created)), " ", badge(backup.state), waiting,
      backup.description ? ` · ${backup.description}` : "",
      h("span", { class: "muted small" }, ` · ${mib(backup.metadata.system_volume_size || 0)} root, `
        + `${mib(backup.metadata.data_volume_size || 0)} data`)),
    backup.error_message ? h("p", { class: "reason" }, backup.error_message) : null,
    backup.state === "Ready" || backup.state === "Restoring" ? restoreForm(backup, flavors) : null,
    h("button", { type: "button", class: "danger", dataset: { action: "delete-backup" }, disabled: !remove.enabled,
      "aria-describedby": remove.enabled ? null : `delete-${backup.uuid}-reason`,
      onclick: () => run(() => api.remove(backup.url), "The deletion of the backup was scheduled.") }, "Delete backup"),
    reason(`delete-${backup.uuid}-reason`, remove));
}

function scheduleForm(instance, after) {
  const form = h("form", { class: "inline", "aria-label": "New backup schedule", novalidate: true }, formError(),
    field("When (cron)", h("input", { name: "schedule", value: "0 2 * * *" }),
      "Minute hour day month weekday, at most hourly: 0 2 * * * is 02:00 every day."),
    field("Time zone", h("input", { name: "timezone", value: readerZone() }), "An IANA name, e.g. Europe/Tallinn."),
    field("Keep each backup (days)", h("input", { name: "retention_time", inputmode: "numeric", value: "7" }),
      "0 keeps them until deleted."),
    field("At most (backups)", h("input", { name: "maximal_number_of_backups", inputmode: "numeric", value: "7" }),
      "The oldest go first; 0 for no limit."),
    h("button", { type: "submit", dataset: { action: "add-schedule" } }, "Add schedule"));
  const number = (v) => (/^\d+$/.test(v.trim()) ? Number(v) : v);
  onSubmit(form, async (values) => {
    await api.post("/api/backup-schedules/", { backup_source: instance.url, schedule: values.schedule,
      timezone: values.timezone, retention_time: number(values.retention_time),
      maximal_number_of_backups: number(values.maximal_number_of_backups) });
    after("The backup schedule was added.");
  });
  return form;
}

function scheduleRow(schedule, run) {
  const toggle = schedule.is_active ? "deactivate" : "activate";
  return h("li", { class: "schedule", dataset: { uuid: schedule.uuid } },
    h("p", {}, h("code", {}, schedule.schedule), ` (${schedule.timezone}) `,
      badge(schedule.is_active ? "Active" : "Inactive"),
      schedule.is_active ? h("span", { class: "next-run" }, ` · next run ${when(schedule.next_trigger_at)}`) : null,
      h("span", { class: "muted small" }, ` · keeps ${schedule.retention_time || "all"} day(s), at most `
        + `${schedule.maximal_number_of_backups || "any number of"} backup(s)`)),
    schedule.error_message ? h("p", { class: "reason" }, schedule.error_message) : null,
    h("button", { type: "button", dataset: { action: toggle }, onclick: () => run(
      () => api.post(`${schedule.url}${toggle}/`), `The schedule was ${toggle}d.`) },
    toggle === "activate" ? "Activate" : "Deactivate"),
    h("button", { type: "button", class: "danger", dataset: { action: "delete-schedule" },
      onclick: () => run(() => api.remove(schedule.url), "The schedule was deleted; its backups stay.") }, "Delete schedule"));
}

/**
 * The instance page's Backups card. `run(request, message)` makes a request and redraws the page (its errors go to
 * the page's alert); `after(message)` redraws after a form's own request.
 */
export function backupsCard(instance, backups, schedules, flavors, run, after) {
  const mayManage = instance.actions && instance.actions.backup && instance.actions.backup.reason !== NOT_ADMIN;
  return h("section", { class: "card", id: "backups", "aria-labelledby": "backups-title" },
    h("h2", { id: "backups-title" }, "Backups ", h("span", { class: "muted" }, `(${backups.length})`)),
    backupNow(instance, after),
    backups.length
      ? h("ul", { class: "backups" }, backups.map((b) => backupRow(b, flavors, run)))
      : states.empty("No backups yet."),
    h("h3", { class: "subhead" }, "Schedules"),
    schedules.length
      ? h("ul", { class: "schedules" }, schedules.map((s) => scheduleRow(s, run)))
      : h("p", { class: "muted" }, "No backup schedule."),
    mayManage ? scheduleForm(instance, after) : null);
}
