// Projects: the home page (pick a customer and a project, create them) and a project's page (quotas, members,
// instances kept current by polling).

import * as api from "../api.js";
import { announce, badge, field, fill, formError, h, mib, onSubmit, select, states, when } from "../dom.js";
import { isBusy } from "../instance-state.js";
import { floatingIpsSection } from "./floating-ips.js";
import { groupsSection } from "./security-groups.js";

const QUOTAS = [
  ["vcpu", "vCPU", (v) => `${v}`],
  ["ram", "RAM", mib],
  ["storage", "Storage", mib],
  ["max_instances", "Instances", (v) => `${v}`],
];

/** The customer and project pickers; choosing a project opens its page. */
async function pickers(ctx, current) {
  const customers = ctx.customers;
  const customerUrl = current ? current.customer : customers[0]?.url;
  const projects = customerUrl ? (await api.list("projects", { customer: api.uuidOf(customerUrl), o: "name" })).items : [];
  const customerSelect = select("customer", customers.map((c) => [c.url, c.name]), { value: customerUrl });
  const projectSelect = select("project", projects.map((p) => [p.uuid, p.name]),
    { placeholder: projects.length ? "Choose a project" : "No projects", value: current?.uuid });
  customerSelect.addEventListener("change", async () => {
    const items = (await api.list("projects", { customer: api.uuidOf(customerSelect.value), o: "name" })).items;
    if (items.length) location.hash = `#/projects/${items[0].uuid}`;
    else fill(projectSelect, h("option", { value: "" }, "No projects"));
  });
  projectSelect.addEventListener("change", () => {
    if (projectSelect.value) location.hash = `#/projects/${projectSelect.value}`;
  });
  return h("div", { class: "pickers" }, field("Customer", customerSelect), field("Project", projectSelect));
}

/** Home: every visible project grouped by customer, with the create forms the user's roles allow. */
export async function homePage(main, { ctx, alive, refresh }) {
  fill(main, h("h1", {}, "Projects"), states.loading("your projects"));
  let projects;
  try {
    projects = (await api.list("projects", { o: "name" })).items;
  } catch (error) {
    return fill(main, h("h1", {}, "Projects"), states.error(error, () => homePage(main, { ctx, alive, refresh })));
  }
  if (!alive()) return;
  const groups = ctx.customers.map((c) => {
    const own = projects.filter((p) => p.customer === c.url);
    return h("section", { class: "card", "aria-labelledby": `c-${c.uuid}` },
      h("h2", { id: `c-${c.uuid}` }, c.name, c.abbreviation ? h("span", { class: "muted" }, ` · ${c.abbreviation}`) : null),
      own.length
        ? h("ul", { class: "project-list" }, own.map((p) => h("li", {},
          h("a", { href: `#/projects/${p.uuid}` }, p.name), h("span", { class: "muted" }, ` ${p.members.length} members`))))
        : states.empty("No projects you can see in this customer yet."));
  });
  const forms = [];
  if (ctx.owned.length) forms.push(newProjectForm(ctx, refresh));
  if (ctx.me.is_staff) forms.push(newCustomerForm(refresh));
  fill(main, h("h1", {}, "Projects"),
    ctx.customers.length ? groups
      : states.empty(ctx.me.is_staff
        ? "There are no customers yet. Create the first one below."
        : "You have no role in any customer or project yet. Ask your organisation's owner or staff to add you."),
    forms.length ? h("div", { class: "grid-2" }, forms) : null);
}

function newProjectForm(ctx, refresh) {
  const form = h("form", { class: "card", "aria-labelledby": "np-title" },
    h("h2", { id: "np-title" }, "New project"), formError(),
    field("Customer", select("customer", ctx.owned.map((c) => [c.url, c.name]), { required: true })),
    field("Name", h("input", { name: "name", required: true, maxlength: 80 })),
    h("button", { type: "submit", class: "primary" }, "Create project"));
  return onSubmit(form, async (values) => {
    const project = await api.post("/api/projects/", values);
    await refresh();
    location.hash = `#/projects/${project.uuid}`;
  });
}

function newCustomerForm(refresh) {
  const form = h("form", { class: "card", "aria-labelledby": "nc-title" },
    h("h2", { id: "nc-title" }, "New customer (staff)"), formError(),
    field("Name", h("input", { name: "name", required: true })),
    field("Abbreviation", h("input", { name: "abbreviation" })),
    h("button", { type: "submit", class: "primary" }, "Create customer"));
  return onSubmit(form, async (values) => {
    await api.post("/api/customers/", values);
    await refresh();
    location.hash = "#/";
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
}

/** Sum of the memberships' quotas and usage; a -1 (unlimited) limit anywhere makes the total unlimited. */
function totals(memberships) {
  const out = {};
  for (const [key] of QUOTAS) {
    const limits = memberships.map((m) => m.quotas[key]);
    out[key] = {
      used: memberships.reduce((sum, m) => sum + (m.usage[key] || 0), 0),
      limit: limits.includes(-1) || !limits.length ? -1 : limits.reduce((a, b) => a + b, 0),
    };
  }
  return out;
}

// Every quota the API may warn about (a membership's quota_alerts), as people name them.
const ALERT_LABELS = { vcpu: "vCPU", ram: "RAM", storage: "Storage", max_instances: "Instances", snapshots: "Snapshots",
  snapshot_storage: "Snapshot storage", floating_ips: "Floating IPs", security_groups: "Security groups",
  security_group_rules: "Security group rules" };

/** The quotas past the warning threshold (the API's quota_alerts, which logged quota_threshold_reached). */
function quotaWarnings(memberships) {
  const past = memberships.flatMap((m) => (m.quota_alerts || []).map((key) => `${ALERT_LABELS[key] || key} in ${m.cloud_name}`));
  if (!past.length) return null;
  return h("div", { class: "warning-box", dataset: { alerts: past.length } },
    h("p", {}, h("strong", {}, "Nearly used up: "), past.join("; "), "."),
    h("p", { class: "hint" }, "Usage reached the warning threshold of these quotas; the event log says when."));
}

function quotaBars(memberships) {
  if (!memberships.length) {
    return states.empty("This project is not bound to any cloud yet, so it has no quotas. An owner binds it on the Clouds page.");
  }
  const sums = totals(memberships);
  return [quotaWarnings(memberships), h("ul", { class: "quotas" }, QUOTAS.map(([key, label, format]) => {
    const { used, limit } = sums[key];
    const percent = limit > 0 ? Math.min(100, Math.round((100 * used) / limit)) : 0;
    const text = limit === -1 ? `${format(used)} used, no limit` : `${format(used)} of ${format(limit)}`;
    const fillBar = h("span");
    fillBar.style.width = `${percent}%`; // CSSOM, not a style attribute: allowed by the page's CSP
    return h("li", { dataset: { quota: key } },
      h("span", { class: "quota-label", id: `q-${key}` }, label),
      h("div", { class: `bar${percent >= 90 ? " full" : ""}`, role: "meter", "aria-labelledby": `q-${key}`,
        "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": percent, "aria-valuetext": text }, fillBar),
      h("span", { class: "quota-text" }, text));
  }))];
}

function membersList(project) {
  if (!project.members.length) return states.empty("No administrators or managers yet.");
  return h("ul", { class: "members" }, project.members.map((m) =>
    h("li", {}, h("strong", {}, m.full_name || m.username), m.full_name ? h("span", { class: "muted" }, ` ${m.username}`) : null,
      " ", h("span", { class: "role" }, m.role))));
}

/**
 * Staff's and owners' form to give a user a role in the project. The API has no user search for owners
 * (GET /api/users/ shows them only themselves), so for them only their own username resolves.
 */
function memberForm(project, done) {
  const form = h("form", { class: "member-form", novalidate: true, "aria-label": "Add a member" }, formError(),
    field("Username", h("input", { name: "user", autocomplete: "off", required: true })),
    field("Role", select("role", [["admin", "Administrator"], ["manager", "Manager"]], { value: "admin" })),
    h("button", { type: "submit" }, "Add member"));
  return onSubmit(form, async ({ user: username, role }) => {
    const wanted = username.trim();
    const user = (await api.list("users", { username: wanted })).items.find((u) => u.username === wanted);
    if (!user) {
      throw new api.ApiError(400, { user: [`No user "${wanted}" that you can see. Staff can look every user up.`], code: "invalid" });
    }
    await api.post("/api/project-permissions/", { project: project.url, user: user.url, role });
    form.reset();
    done(`${wanted} is now ${role} of ${project.name}.`);
  });
}

/** An instance's internal and external addresses, each labelled; a dash while it has none. */
export function ipsOf(instance) {
  if (!instance.internal_ips && !instance.external_ips) return h("span", { class: "muted" }, "—");
  return h("div", {},
    instance.internal_ips ? h("div", { class: "ip" }, h("span", { class: "muted small" }, "internal "), instance.internal_ips) : null,
    instance.external_ips ? h("div", { class: "ip" }, h("span", { class: "muted small" }, "external "), instance.external_ips) : null);
}

/** The instances table; rows link to the instance page. */
export function instanceTable(instances) {
  return h("table", { class: "rows" },
    h("caption", { class: "visually-hidden" }, "Instances of the project"),
    h("thead", {}, h("tr", {}, ["Host name", "State", "IPs", "Flavor", "Template", "Cloud", "Created"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, instances.map((i) => h("tr", { dataset: { uuid: i.uuid } },
      h("td", { "data-label": "Host name" }, h("a", { href: `#/instances/${i.uuid}` }, i.hostname)),
      h("td", { "data-label": "State" }, h("div", {}, badge(i.state), i.error_message ? h("span", { class: "error-text" }, ` ${i.error_message}`) : null)),
      h("td", { "data-label": "IPs", class: "ips" }, ipsOf(i)),
      h("td", { "data-label": "Flavor" }, i.flavor_name || `${i.cores} vCPU, ${mib(i.ram)}`),
      h("td", { "data-label": "Template" }, i.template_name),
      h("td", { "data-label": "Cloud" }, i.cloud_name),
      h("td", { "data-label": "Created" }, when(i.created))))));
}

/** A project's page: pickers, quota bars, members and the instance list, refreshed every few seconds. */
export async function projectPage(main, { params: [uuid], ctx, poll, alive }) {
  const title = h("h1", {}, "Project");
  fill(main, title, states.loading("the project"));
  let project;
  try {
    project = await api.get(`/api/projects/${uuid}/`);
  } catch (error) {
    return fill(main, title, states.error(error), h("p", {}, h("a", { href: "#/" }, "Back to your projects")));
  }
  if (!alive()) return;
  fill(title, project.name);
  const members = h("div", {}, membersList(project));
  const manages = ctx.me.is_staff || ctx.owned.some((c) => c.url === project.customer);
  const reloadMembers = async (message) => {
    announce(message);
    fill(members, membersList(await api.get(`/api/projects/${uuid}/`)));
  };
  const quotas = h("section", { class: "card", "aria-labelledby": "quota-title" }, h("h2", { id: "quota-title" }, "Quota usage"), states.loading("quotas"));
  const list = h("div", { id: "instances" }, states.loading("instances"));
  const count = h("span", { class: "muted" });
  const cost = `${project.monthly_cost} ${project.currency} a month`;
  fill(main, title, h("p", { class: "muted" }, project.customer_name, project.description ? ` · ${project.description}` : "",
    h("span", { class: "project-cost" }, ` · ${cost}`)),
    await pickers(ctx, project),
    h("div", { class: "grid-2" }, quotas,
      h("section", { class: "card", "aria-labelledby": "members-title" }, h("h2", { id: "members-title" }, "Members"), members,
        manages ? memberForm(project, reloadMembers) : null)),
    h("section", { class: "card", "aria-labelledby": "inst-title" },
      h("div", { class: "section-head" }, h("h2", { id: "inst-title" }, "Instances ", count),
        h("a", { class: "button primary", href: `#/projects/${uuid}/new` }, "New instance")),
      list),
    groupsSection(project, poll),
    floatingIpsSection(project, poll));
  let last = "";
  await poll(async () => {
    try {
      const [memberships, instances] = await Promise.all([
        api.list("project-cloud-memberships", { project: uuid }),
        api.list("instances", { project: uuid, page_size: 100 }),
      ]);
      const snapshot = JSON.stringify([memberships.items, instances.items]);
      if (snapshot === last) return;
      last = snapshot;
      fill(quotas, h("h2", { id: "quota-title" }, "Quota usage"), quotaBars(memberships.items));
      fill(count, `(${instances.count})`);
      fill(list, instances.items.length ? instanceTable(instances.items)
        : states.empty("No instances yet.", h("a", { href: `#/projects/${uuid}/new` }, "Create the first one")),
      instances.count > instances.items.length ? h("p", { class: "muted" }, `Showing the newest ${instances.items.length} of ${instances.count}.`) : null,
      instances.items.some(isBusy) ? h("p", { class: "muted live" }, "Updating while instances change…") : null);
    } catch (error) {
      fill(list, states.error(error));
    }
  }, 2000);
}
