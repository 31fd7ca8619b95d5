// Security groups on the project page: each membership's groups with their rules and state, and, for those the
// API lets write them, the forms to create a group, edit its rules and delete it. Also the group pickers that the
// create-instance form and the instance page share.

import * as api from "../api.js";
import { announce, badge, field, fill, formError, h, onSubmit, select, states } from "../dom.js";

const PROTOCOLS = [["tcp", "TCP"], ["udp", "UDP"], ["icmp", "ICMP"]];

/** One rule as people read it: "TCP 22 from 0.0.0.0/0", "ICMP any from 10.0.0.0/8". */
export function ruleText(rule) {
  const proto = rule.protocol.toUpperCase();
  const from = rule.from_port;
  const to = rule.to_port;
  let what;
  if (rule.protocol === "icmp") {
    what = from == null ? "any" : `type ${from}${to == null ? "" : ` code ${to}`}`;
  } else {
    what = from === to ? `${from}` : `${from}–${to}`;
  }
  return `${proto} ${what} from ${rule.cidr}`;
}

function rulesList(group) {
  if (!group.rules.length) return h("span", { class: "muted" }, "No rules: nothing gets in.");
  return h("ul", { class: "rules" }, group.rules.map((r) => h("li", {}, ruleText(r))));
}

/**
 * The API's 400 on a group, keyed by the form's control names: a rule's field error ({"rules": {"1": {"to_port":
 * [...]}}}, or a list with one entry per rule) goes to `rules.1.to_port`, a message about the list to `rules`.
 */
function groupErrors(error) {
  const out = {};
  if (error.status !== 400 || !error.body || typeof error.body !== "object") return out;
  const text = (value) => [].concat(value).flatMap((v) => (v && typeof v === "object" ? Object.values(v).flat() : [v])).join(" ");
  for (const [key, value] of Object.entries(error.body)) {
    if (key === "code") continue;
    const perRule = key === "rules" && value && typeof value === "object"
      && Object.entries(value).filter(([index, fields]) => /^\d+$/.test(index) && fields && typeof fields === "object");
    if (perRule && perRule.length) {
      for (const [index, fields] of perRule) {
        for (const [name, messages] of Object.entries(fields)) out[`rules.${index}.${name}`] = text(messages);
      }
    } else {
      out[key] = text(value);
    }
  }
  return out;
}

function ruleRow(rule, rows) {
  const port = (name, value, label, hint) => field(label,
    h("input", { name, inputmode: "numeric", autocomplete: "off", value: value ?? "", size: 6 }), hint);
  const row = h("div", { class: "rule-row", role: "group" },
    field("Protocol", select("protocol", PROTOCOLS, { value: rule.protocol || "tcp" })),
    port("from_port", rule.from_port, "From port", "ICMP: type"),
    port("to_port", rule.to_port, "To port", "ICMP: code"),
    field("CIDR", h("input", { name: "cidr", autocomplete: "off", value: rule.cidr || "0.0.0.0/0", size: 16 })),
    h("button", { type: "button", class: "small", onclick: () => { row.remove(); renumber(rows); } }, "Remove"));
  return row;
}

/** Names each rule's controls by its position (rules.0.protocol …), as the API numbers its errors. */
function renumber(rows) {
  [...rows.children].forEach((row, index) => {
    row.setAttribute("aria-label", `Rule ${index + 1}`);
    for (const control of row.querySelectorAll("input, select")) {
      const base = control.name.split(".").pop();
      control.name = `rules.${index}.${base}`;
    }
  });
}

function portValue(text) {
  const value = text.trim();
  if (!value) return null;
  return /^\d+$/.test(value) ? Number(value) : value; // not a number: the API says which field is wrong
}

/** The form that creates a group (membership given as the choices) or edits one (group given). */
function groupForm({ memberships, group, done, cancel }) {
  const rows = h("div", { class: "rule-rows" });
  const rulesSet = h("fieldset", { name: "rules", id: "sg-rules", class: "rules-set", "aria-describedby": "sg-rules-error" },
    h("legend", {}, "Rules (incoming traffic allowed)"), rows,
    h("p", { class: "field-error", id: "sg-rules-error", hidden: true }),
    h("button", { type: "button", class: "small", onclick: () => { rows.append(ruleRow({}, rows)); renumber(rows); } }, "Add rule"));
  for (const rule of group ? group.rules : [{ protocol: "tcp", from_port: 22, to_port: 22 }]) rows.append(ruleRow(rule, rows));
  renumber(rows);
  const title = group ? `Edit ${group.name}` : "New security group";
  const form = h("form", { class: "group-form", novalidate: true, "aria-label": title },
    h("h3", {}, title), formError(),
    group ? null : field("Cloud", select("membership", memberships.map((m) => [m.url, m.cloud_name]), { value: memberships[0]?.url })),
    field("Name", h("input", { name: "name", required: true, autocomplete: "off", value: group ? group.name : "" })),
    field("Description", h("input", { name: "description", autocomplete: "off", value: group ? group.description : "" })),
    rulesSet,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, group ? "Save group" : "Create group"),
      h("button", { type: "button", onclick: cancel }, "Cancel")));
  onSubmit(form, async (values) => {
    const rules = [...rows.children].map((row) => {
      const get = (name) => row.querySelector(`[name$='.${name}']`).value;
      const rule = { protocol: get("protocol"), from_port: portValue(get("from_port")), to_port: portValue(get("to_port")) };
      if (get("cidr").trim()) rule.cidr = get("cidr").trim();
      return rule;
    });
    const body = { name: values.name.trim(), description: values.description, rules };
    try {
      if (group) await api.patch(group.url, body);
      else await api.post("/api/security-groups/", { ...body, membership: values.membership });
    } catch (error) {
      // onSubmit shows fieldErrors() at the controls; a group's rule errors are nested, so flatten them first.
      error.fieldErrors = () => groupErrors(error);
      throw error;
    }
    done(group ? `The rules of ${body.name} will be pushed to the cloud.` : `${body.name} will be created in the cloud.`);
  });
  return form;
}

/**
 * Whether the requester may write the project's groups: DRF's OPTIONS on a group lists PUT only when the API
 * would allow it (the same check as the write). Null when there is no group to ask about: then the forms are
 * offered and a refused POST shows the API's reason.
 */
async function canWrite(groups) {
  if (!groups.length) return null;
  const answer = await api.options(groups[0].url);
  return Boolean(answer && answer.actions && answer.actions.PUT);
}

/** The project page's section: groups per membership, refreshed by `poll`, with forms when the API allows. */
export function groupsSection(project, poll) {
  const count = h("span", { class: "muted" });
  const status = h("div", { role: "alert" });
  const list = h("div", {}, states.loading("security groups"));
  const formArea = h("div", {});
  const newButton = h("button", { type: "button", class: "primary", hidden: true, dataset: { action: "new-group" } }, "New security group");
  const section = h("section", { class: "card", id: "security-groups", "aria-labelledby": "sg-title" },
    h("div", { class: "section-head" }, h("h2", { id: "sg-title" }, "Security groups ", count), newButton),
    status, list, formArea);
  let memberships = [];
  let writable;
  let last = "";
  let confirming = null;

  const closeForm = () => { fill(formArea); newButton.hidden = writable === false; newButton.focus(); };
  const finished = async (message) => { fill(formArea); newButton.hidden = writable === false; announce(message); last = ""; await refresh(); };
  const openForm = (group) => {
    fill(status);
    newButton.hidden = true;
    fill(formArea, groupForm({ memberships, group, done: finished, cancel: closeForm }));
    formArea.querySelector("input[name='name']").focus();
  };
  newButton.addEventListener("click", () => openForm(null));

  const remove = async (group) => {
    confirming = null;
    fill(status);
    try {
      await api.remove(group.url);
      announce(`${group.name} will be deleted from the cloud.`);
    } catch (error) {
      fill(status, h("p", { class: "form-error", dataset: { group: group.uuid } }, `${group.name}: ${error.message}`));
    }
    last = "";
    await refresh();
  };

  function row(group) {
    const buttons = writable === false ? null : confirming === group.uuid
      ? h("div", { class: "confirm", role: "group", "aria-label": `Confirm deleting ${group.name}` },
        h("p", {}, `Delete ${group.name}?`),
        h("button", { type: "button", class: "danger small", dataset: { action: "confirm-delete-group" }, onclick: () => remove(group) }, "Yes, delete"),
        h("button", { type: "button", class: "small", onclick: () => { confirming = null; last = ""; refresh(); } }, "Cancel"))
      : h("div", { class: "actions" },
        h("button", { type: "button", class: "small", dataset: { action: "edit-group" }, "aria-label": `Edit ${group.name}`, onclick: () => openForm(group) }, "Edit"),
        h("button", { type: "button", class: "small danger", dataset: { action: "delete-group" }, "aria-label": `Delete ${group.name}`,
          onclick: () => { confirming = group.uuid; last = ""; refresh(); } }, "Delete"));
    return h("tr", { dataset: { group: group.name } },
      h("td", { "data-label": "Name" }, h("div", {}, h("strong", {}, group.name),
        group.description ? h("div", { class: "muted small" }, group.description) : null)),
      h("td", { "data-label": "State" }, h("div", {}, badge(group.state),
        group.error_message ? h("div", { class: "error-text" }, group.error_message) : null)),
      h("td", { "data-label": "Rules" }, rulesList(group)),
      writable === false ? null : h("td", { "data-label": "" }, buttons));
  }

  function table(groups) {
    const heads = ["Name", "State", "Rules"].concat(writable === false ? [] : ["Actions"]);
    return h("table", { class: "rows groups" },
      h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, groups.map(row)));
  }

  async function refresh() {
    try {
      const [ms, groups] = await Promise.all([
        api.list("project-cloud-memberships", { project: project.uuid }),
        api.list("security-groups", { project: project.uuid, o: "name" }),
      ]);
      memberships = ms.items;
      if (writable === undefined || writable === null) writable = await canWrite(groups.items);
      const snapshot = JSON.stringify([memberships.map((m) => m.url), groups.items, confirming, writable]);
      if (snapshot === last) return;
      last = snapshot;
      newButton.hidden = writable === false || !memberships.length || formArea.childElementCount > 0;
      fill(count, `(${groups.count})`);
      if (!memberships.length) {
        return fill(list, states.empty("No cloud yet: security groups belong to the project's cloud memberships."));
      }
      fill(list, memberships.map((m) => {
        const own = groups.items.filter((g) => g.membership === m.url);
        return h("div", { class: "membership-groups", dataset: { membership: m.uuid } },
          h("h3", {}, `In ${m.cloud_name}`),
          own.length ? table(own) : states.empty("No security groups in this cloud: instances get the tenant's default group."));
      }), writable === false ? h("p", { class: "muted small" }, "You can read these groups; project administrators change them.") : null);
    } catch (error) {
      fill(list, states.error(error));
    }
  }

  poll(refresh, 2000);
  return section;
}

/**
 * Checkboxes of a membership's groups, named `security_group`, inside a fieldset named `security_groups` whose
 * error slot shows the API's 400 for the list. Groups not yet in the cloud cannot be picked (the API refuses them).
 */
export function groupPicker(groups, { ticked = new Set(), legend = "Security groups", hint, onChange } = {}) {
  const boxes = groups.map((g) => {
    const usable = Boolean(g.backend_id) && !/deletion|deleting/i.test(g.state);
    const id = `sg-${g.uuid}`;
    const box = h("input", { type: "checkbox", id, name: "security_group", value: g.url, checked: ticked.has(g.url),
      disabled: !usable, onchange: onChange });
    return h("div", { class: "field checkbox" }, box,
      h("label", { for: id }, g.name, " ", h("span", { class: "muted small" }, g.rules.map(ruleText).join(", ") || "no rules")),
      usable ? null : h("span", { class: "reason" }, ` (${g.state}: not in the cloud yet)`));
  });
  return h("fieldset", { name: "security_groups", id: "security_groups", class: "groups-set", "aria-describedby": "security_groups-error" },
    h("legend", {}, legend),
    hint ? h("p", { class: "hint" }, hint) : null,
    boxes.length ? boxes : h("p", { class: "muted" }, "This cloud membership has no security groups."),
    h("p", { class: "field-error", id: "security_groups-error", hidden: true }));
}

/** The URLs of the ticked groups of a picker. */
export function pickedGroups(root) {
  return [...root.querySelectorAll("input[name='security_group']:checked")].map((b) => b.value);
}
