// Owners' page: a customer's clouds and the projects bound to them, with their sync state and errors.

import * as api from "../api.js";
import { announce, badge, field, fill, formError, h, onSubmit, select, states, when } from "../dom.js";

function syncButton(obj, label) {
  const busy = /Scheduled|Syncing/i.test(obj.state);
  return h("button", { type: "button", class: "small", disabled: busy, title: busy ? "A sync is already under way." : null,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.post(`${obj.url}sync/`);
        announce(`${label}: sync was scheduled.`);
      } catch (error) {
        event.target.after(h("span", { class: "error-text", role: "alert" }, ` ${error.message}`));
      }
    } }, "Sync now");
}

function cloudTable(clouds) {
  if (!clouds.length) return states.empty("This customer has no clouds yet. Add its OpenStack below.");
  return h("table", { class: "rows" }, h("caption", { class: "visually-hidden" }, "Clouds"),
    h("thead", {}, h("tr", {}, ["Name", "State", "Flavors", "Last pulled", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, clouds.map((c) => h("tr", { dataset: { uuid: c.uuid } },
      h("td", { "data-label": "Name" }, h("div", {}, h("strong", {}, c.name), h("div", { class: "muted small" }, c.auth_url || ""))),
      h("td", { "data-label": "State" }, h("div", {}, badge(c.state), c.error_message ? h("div", { class: "error-text" }, c.error_message) : null)),
      h("td", { "data-label": "Flavors" }, String(c.flavors.length)),
      h("td", { "data-label": "Last pulled" }, when(c.last_pulled)),
      h("td", { "data-label": "" }, syncButton(c, c.name))))));
}

function membershipTable(memberships) {
  if (!memberships.length) return states.empty("No project of this customer is bound to a cloud yet.");
  return h("table", { class: "rows" }, h("caption", { class: "visually-hidden" }, "Project memberships"),
    h("thead", {}, h("tr", {}, ["Project", "Cloud", "Tenant", "State", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, memberships.map((m) => h("tr", { dataset: { uuid: m.uuid } },
      h("td", { "data-label": "Project" }, h("a", { href: `#/projects/${api.uuidOf(m.project)}` }, m.project_name)),
      h("td", { "data-label": "Cloud" }, m.cloud_name),
      h("td", { "data-label": "Tenant" }, h("code", {}, m.tenant_id || "being created")),
      h("td", { "data-label": "State" }, h("div", {}, badge(m.state), m.error_message ? h("div", { class: "error-text" }, m.error_message) : null)),
      h("td", { "data-label": "" }, syncButton(m, m.project_name))))));
}

function cloudForm(customer, done) {
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "add-cloud" },
    h("h2", { id: "add-cloud" }, "Add a cloud"), formError(),
    field("Name", h("input", { name: "name", required: true })),
    field("Keystone URL", h("input", { name: "auth_url", type: "url", required: true, placeholder: "http://keystone.example.com:5000/v3" }),
      "Must be one of the OpenStacks configured in the service's settings."),
    h("button", { type: "submit", class: "primary" }, "Add cloud"));
  return onSubmit(form, async (values) => {
    await api.post("/api/clouds/", { ...values, customer: customer.url });
    form.reset();
    done("The cloud was added; its catalogue is being pulled.");
  });
}

// Binding an existing tenant is for staff alone (the API says 403 to anyone else): owners get a tenant made.
function bindForm(projects, clouds, staff, done) {
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "bind" },
    h("h2", { id: "bind" }, "Bind a project to a cloud"), formError(),
    field("Project", select("project", projects.map((p) => [p.url, p.name]), { placeholder: "Choose a project" })),
    field("Cloud", select("cloud", clouds.map((c) => [c.url, c.name]), { placeholder: "Choose a cloud" })),
    staff ? field("Tenant id (optional)", h("input", { name: "tenant_id", autocomplete: "off" }),
      "An existing Keystone project of this customer; leave empty to have one created for the project.") :
      h("p", { class: "muted small" }, "A tenant is created in the cloud for the project."),
    h("button", { type: "submit", class: "primary" }, "Bind project"));
  return onSubmit(form, async (values) => {
    const body = { project: values.project || null, cloud: values.cloud || null };
    if (staff && values.tenant_id.trim()) body.tenant_id = values.tenant_id.trim();
    await api.post("/api/project-cloud-memberships/", body);
    form.reset();
    done("The project was bound; its tenant is being verified.");
  });
}

/** #/clouds */
export async function cloudsPage(main, { ctx, poll, alive }) {
  const title = h("h1", {}, "Clouds");
  if (!ctx.owned.length) return fill(main, title, states.empty("Only owners of a customer and staff manage clouds."));
  let customer = ctx.owned.find((c) => c.uuid === sessionStorage.getItem("nodeconductor.cloudCustomer")) || ctx.owned[0];
  const picker = select("customer", ctx.owned.map((c) => [c.uuid, c.name]), { value: customer.uuid });
  const lists = h("div", {}, states.loading("clouds"));
  const forms = h("div", { class: "grid-2" });
  fill(main, title, h("div", { class: "pickers" }, field("Customer", picker)), lists, forms);
  let last = "";
  let formKey = "";
  const load = async () => {
    try {
      const params = { customer: customer.uuid };
      const [clouds, memberships, projects] = await Promise.all([
        api.list("clouds", { ...params, o: "name" }),
        api.list("project-cloud-memberships", { o: "project__name" }),
        api.list("projects", { ...params, o: "name" }),
      ]);
      if (!alive()) return;
      const mine = memberships.items.filter((m) => clouds.items.some((c) => c.url === m.cloud));
      const snapshot = JSON.stringify([clouds.items, mine, projects.items.map((p) => p.url)]);
      if (snapshot === last) return;
      last = snapshot;
      fill(lists,
        h("section", { class: "card", "aria-labelledby": "clouds-title" }, h("h2", { id: "clouds-title" }, `Clouds of ${customer.name}`), cloudTable(clouds.items)),
        h("section", { class: "card", "aria-labelledby": "members-title" }, h("h2", { id: "members-title" }, "Project memberships"), membershipTable(mine)));
      // The forms are rebuilt only when their choices change, so polling never wipes what the user is typing.
      const key = JSON.stringify([customer.uuid, clouds.items.map((c) => c.url), projects.items.map((p) => p.url)]);
      if (key !== formKey) {
        formKey = key;
        const done = (message) => { announce(message); load(); };
        fill(forms, cloudForm(customer, done), bindForm(projects.items, clouds.items, ctx.me.is_staff, done));
      }
    } catch (error) {
      fill(lists, states.error(error, load));
    }
  };
  picker.addEventListener("change", () => {
    customer = ctx.owned.find((c) => c.uuid === picker.value);
    sessionStorage.setItem("nodeconductor.cloudCustomer", customer.uuid);
    last = "";
    fill(lists, states.loading("clouds"));
    load();
  });
  await poll(load, 3000);
}
