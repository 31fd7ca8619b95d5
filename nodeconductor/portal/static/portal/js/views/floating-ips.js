// Floating IPs: the project page's list (address, status, the instance it is on) and the create form's checkbox.
// Assigning and unassigning are instance actions, drawn by the instance page from the instance's `actions`.

import * as api from "../api.js";
import { fill, h, states } from "../dom.js";

/** The project page's section: the floating IPs of the project's memberships, refreshed by `poll`. */
export function floatingIpsSection(project, poll) {
  const count = h("span", { class: "muted" });
  const list = h("div", {}, states.loading("floating IPs"));
  const section = h("section", { class: "card", id: "floating-ips", "aria-labelledby": "fip-title" },
    h("h2", { id: "fip-title" }, "Floating IPs ", count), list);
  let last = "";

  async function refresh() {
    try {
      const fips = await api.list("floating-ips", { project: project.uuid });
      const snapshot = JSON.stringify(fips.items);
      if (snapshot === last) return;
      last = snapshot;
      fill(count, `(${fips.count})`);
      if (!fips.items.length) {
        return fill(list, states.empty("No floating IPs yet. An instance gets one at its creation or with "
          + "“Assign floating IP” on its page."));
      }
      fill(list, h("table", { class: "rows" },
        h("caption", { class: "visually-hidden" }, "Floating IPs of the project"),
        h("thead", {}, h("tr", {}, ["Address", "Status", "Instance"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, fips.items.map((f) => h("tr", { dataset: { address: f.address } },
          h("td", { "data-label": "Address" }, h("code", {}, f.address)),
          h("td", { "data-label": "Status" }, f.status),
          h("td", { "data-label": "Instance" }, f.instance
            ? h("a", { href: `#/instances/${f.instance_uuid}` }, f.instance_hostname)
            : h("span", { class: "muted" }, "free")))))));
    } catch (error) {
      fill(list, states.error(error));
    }
  }

  poll(refresh, 2000);
  return section;
}

/** The create form's checkbox: `assign_floating_ip` with the API's 400 in its error slot. */
export function assignCheckbox() {
  const box = h("input", { type: "checkbox", id: "assign_floating_ip", name: "assign_floating_ip", value: "true",
    "aria-describedby": "assign_floating_ip-hint assign_floating_ip-error" });
  return h("div", { class: "field" },
    h("div", { class: "field checkbox" }, box, h("label", { for: "assign_floating_ip" }, "Give it a floating IP")),
    h("p", { class: "hint", id: "assign_floating_ip-hint" },
      "An address of the cloud's external network, so the VM is reachable from outside (counts against the "
      + "floating IP quota)."),
    h("p", { class: "field-error", id: "assign_floating_ip-error", hidden: true }));
}
