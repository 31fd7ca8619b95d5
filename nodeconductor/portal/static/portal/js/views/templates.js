// Staff's page: the templates users boot from, each mapped to a Glance image id per cloud.

import * as api from "../api.js";
import { announce, field, fill, formError, h, onSubmit, states } from "../dom.js";

function templateTable(templates, reload) {
  if (!templates.length) return states.empty("No templates yet. Add the first one below: users need one to create instances.");
  return h("table", { class: "rows" }, h("caption", { class: "visually-hidden" }, "Templates"),
    h("thead", {}, h("tr", {}, ["Name", "OS", "SLA", "Images", "Active", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, templates.map((t) => h("tr", { dataset: { uuid: t.uuid } },
      h("td", { "data-label": "Name" }, h("strong", {}, t.name)),
      h("td", { "data-label": "OS" }, t.os || "—"),
      h("td", { "data-label": "SLA" }, t.sla_level ? `${t.sla_level} %` : "—"),
      h("td", { "data-label": "Images" }, t.images.length ? t.images.map((i) => i.cloud_name).join(", ")
        : h("span", { class: "muted" }, (t.mappings || []).length ? "mapped; not in any pulled cloud yet" : "no image mapped")),
      h("td", { "data-label": "Active" }, t.is_active ? "yes" : "no"),
      h("td", { "data-label": "" }, h("button", { type: "button", class: "small", onclick: async (event) => {
        event.target.disabled = true;
        try {
          await api.patch(t.url, { is_active: !t.is_active });
          announce(`${t.name} is now ${t.is_active ? "inactive" : "active"}.`);
        } catch (error) {
          event.target.after(h("span", { class: "error-text", role: "alert" }, ` ${error.message}`));
        }
        reload();
      } }, t.is_active ? "Deactivate" : "Activate"))))));
}

function templateForm(done) {
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "add-template" },
    h("h2", { id: "add-template" }, "Add a template"), formError(),
    field("Name", h("input", { name: "name", required: true })),
    field("Operating system", h("input", { name: "os", placeholder: "CentOS 6.5" })),
    field("SLA level (%)", h("input", { name: "sla_level", inputmode: "decimal", placeholder: "99.9" })),
    field("Glance image id", h("input", { name: "backend_image_id", autocomplete: "off" }),
      "The image to boot from, in each cloud that has it (openstack image list)."),
    h("div", { class: "field checkbox" }, h("input", { type: "checkbox", name: "is_active", id: "t-active", checked: true }),
      h("label", { for: "t-active" }, "Active: users may pick it")),
    h("button", { type: "submit", class: "primary" }, "Add template"));
  return onSubmit(form, async (values) => {
    const body = { name: values.name, os: values.os, is_active: values.is_active === "on" };
    if (values.sla_level.trim()) body.sla_level = values.sla_level.trim();
    if (values.backend_image_id.trim()) body.mappings = [{ backend_image_id: values.backend_image_id.trim() }];
    await api.post("/api/iaas-templates/", body);
    form.reset();
    done("The template was added.");
  });
}

/** #/templates */
export async function templatesPage(main, { ctx, alive }) {
  const title = h("h1", {}, "Templates");
  if (!ctx.me.is_staff) return fill(main, title, states.empty("Only staff manage templates."));
  const list = h("section", { class: "card", "aria-labelledby": "tpl-title" }, states.loading("templates"));
  const load = async () => {
    try {
      const templates = (await api.list("iaas-templates", { o: "name" })).items;
      if (alive()) fill(list, h("h2", { id: "tpl-title" }, "All templates"), templateTable(templates, load));
    } catch (error) {
      fill(list, states.error(error, load));
    }
  };
  fill(main, title, list, templateForm((message) => { announce(message); load(); }));
  await load();
}
