// The create-instance form: template, flavor, data volume size and SSH key; the API's 400 is shown per field.

import * as api from "../api.js";
import { field, fill, formError, h, mib, onSubmit, select, states } from "../dom.js";
import { assignCheckbox } from "./floating-ips.js";
import { groupPicker, pickedGroups } from "./security-groups.js";

// What the API does when a create names no group (InstanceCreateSerializer): so nothing is ticked at first.
const NO_GROUP_HINT = "None ticked: the instance gets only the tenant's own default group, as the API does when "
  + "the request names none. Tick ssh to reach it with SSH.";

/** The choices the form offers, all from the API: the project's In Sync clouds, their flavors, templates, keys. */
async function choices(project, ctx) {
  const memberships = (await api.list("project-cloud-memberships", { project: project.uuid })).items;
  const ready = memberships.filter((m) => m.state === "In Sync");
  const [flavorLists, templates, keys, groups] = await Promise.all([
    Promise.all(ready.map((m) => api.list("flavors", { cloud: api.uuidOf(m.cloud), is_active: "true", o: "ram" }))),
    api.list("iaas-templates", { is_active: "true", o: "name" }),
    api.list("keys", { user: ctx.me.uuid, o: "name" }),
    api.list("security-groups", { project: project.uuid, o: "name" }),
  ]);
  return { memberships, ready, flavors: flavorLists.flatMap((l) => l.items), templates: templates.items, keys: keys.items,
    groups: groups.items };
}

function flavorLabel(f, manyClouds) {
  const size = `${f.name}: ${f.cores} vCPU, ${mib(f.ram)} RAM, ${mib(f.disk)} disk`;
  return manyClouds ? `${f.cloud_name} · ${size}` : size;
}

/** #/projects/<uuid>/new */
export async function createPage(main, { params: [uuid], ctx, alive }) {
  const title = h("h1", {}, "New instance");
  fill(main, title, states.loading("the choices"));
  let project;
  let c;
  try {
    project = await api.get(`/api/projects/${uuid}/`);
    c = await choices(project, ctx);
  } catch (error) {
    return fill(main, title, states.error(error, () => createPage(main, { params: [uuid], ctx, alive })));
  }
  if (!alive()) return;
  const back = h("p", {}, h("a", { href: `#/projects/${uuid}` }, `← Back to ${project.name}`));
  fill(title, `New instance in ${project.name}`);
  if (!c.ready.length) {
    const why = c.memberships.length
      ? `Its cloud memberships are ${c.memberships.map((m) => `${m.cloud_name}: ${m.state}`).join(", ")}; instances need one In Sync.`
      : "It is not bound to any cloud yet.";
    return fill(main, title, back, states.empty(`This project cannot have instances yet. ${why}`,
      ctx.isOwner ? h("a", { href: "#/clouds" }, "Bind it to a cloud") : "Ask an owner of the customer to bind it to a cloud."));
  }
  if (!c.templates.length) {
    return fill(main, title, back, states.empty("There are no active templates to boot from. Staff add them on the Templates page."));
  }
  const manyClouds = new Set(c.flavors.map((f) => f.cloud)).size > 1;
  // The groups are the membership's in the flavor's cloud: shown for that cloud once a flavor is chosen.
  const groupsArea = h("div", { class: "groups-area" });
  const showGroups = (cloudUrl) => {
    const membership = c.ready.find((m) => m.cloud === cloudUrl) || (c.ready.length === 1 ? c.ready[0] : null);
    const ticked = new Set(pickedGroups(groupsArea));
    fill(groupsArea, membership
      ? groupPicker(c.groups.filter((g) => g.membership === membership.url), { ticked, hint: NO_GROUP_HINT })
      : h("p", { class: "hint" }, "Choose a flavor to see the security groups of its cloud."));
  };
  showGroups(null);
  const templateLabel = (t) => `${t.name} (${t.os}${t.images.length ? `; in ${t.images.map((i) => i.cloud_name).join(", ")}` : ""})`;
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "create-title" },
    h("h2", { id: "create-title", class: "visually-hidden" }, "Instance settings"),
    formError(),
    field("Host name", h("input", { name: "hostname", required: true, autocomplete: "off" }),
      "Letters, digits and hyphens in dot-separated labels, e.g. web-1.example.com."),
    field("Description", h("input", { name: "description", autocomplete: "off" })),
    field("Template", select("template", c.templates.map((t) => [t.url, templateLabel(t)]), { placeholder: "Choose a template", required: true })),
    field("Flavor", select("flavor", c.flavors.map((f) => [f.url, flavorLabel(f, manyClouds)]), { placeholder: "Choose a flavor", required: true }),
      "vCPU and RAM; the root volume gets the flavor's disk."),
    field("Data volume size (MiB)", h("input", { name: "data_volume_size", inputmode: "numeric", placeholder: "20480" }),
      "An empty volume attached beside the root volume; 1024 MiB = 1 GiB. Leave empty for the default."),
    field("SSH key", select("ssh_public_key", c.keys.map((k) => [k.url, `${k.name} (${k.fingerprint})`]),
      { placeholder: c.keys.length ? "No key" : "No key (add one on the SSH keys page)" })),
    groupsArea,
    assignCheckbox(),
    field("User data (cloud-init)", h("textarea", { name: "user_data", rows: 4, spellcheck: "false", autocomplete: "off" }),
      "Optional: #cloud-config YAML or a script that the VM runs at its first boot. At most about 47 KiB."),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Create instance"),
      h("a", { class: "button", href: `#/projects/${uuid}` }, "Cancel")));
  onSubmit(form, async (values) => {
    const body = {
      hostname: values.hostname.trim(),
      description: values.description,
      project: project.url,
      ssh_public_key: values.ssh_public_key || null,
    };
    // Unchosen selects are left out, so the API answers "This field is required." at them.
    if (values.template) body.template = values.template;
    if (values.flavor) body.flavor = values.flavor;
    const groups = pickedGroups(form);
    if (groups.length) body.security_groups = groups;
    if (values.assign_floating_ip) body.assign_floating_ip = true;
    if (values.user_data) body.user_data = values.user_data;
    const size = values.data_volume_size.trim();
    if (size) body.data_volume_size = /^\d+$/.test(size) ? Number(size) : size;
    const instance = await api.post("/api/instances/", body);
    location.hash = `#/instances/${instance.uuid}`;
  });
  form.elements.namedItem("flavor").addEventListener("change", (event) => {
    showGroups(c.flavors.find((f) => f.url === event.target.value)?.cloud || null);
  });
  fill(main, title, back, form);
}
