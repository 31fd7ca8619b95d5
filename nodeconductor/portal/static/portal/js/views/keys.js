// The user's SSH keys: what instances get as their authorized key.

import * as api from "../api.js";
import { announce, field, fill, formError, h, onSubmit, states } from "../dom.js";

function keyList(keys, reload) {
  if (!keys.length) return states.empty("You have no SSH keys yet. Add your public key below to log in to your instances.");
  return h("ul", { class: "keys" }, keys.map((k) => h("li", {},
    h("strong", {}, k.name), " ", h("code", {}, k.fingerprint), " ",
    h("button", { type: "button", class: "small", "aria-label": `Delete key ${k.name}`, onclick: async () => {
      await api.remove(k.url).catch((error) => announce(error.message));
      reload();
    } }, "Delete"))));
}

/** #/keys */
export async function keysPage(main, { ctx, alive }) {
  const title = h("h1", {}, "SSH keys");
  const list = h("section", { class: "card", "aria-labelledby": "keys-title" }, states.loading("your keys"));
  const load = async () => {
    try {
      const keys = (await api.list("keys", { user: ctx.me.uuid, o: "name" })).items;
      if (alive()) fill(list, h("h2", { id: "keys-title" }, "Your keys"), keyList(keys, load));
    } catch (error) {
      fill(list, states.error(error, load));
    }
  };
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "add-key" },
    h("h2", { id: "add-key" }, "Add a key"), formError(),
    field("Name", h("input", { name: "name", required: true })),
    field("Public key", h("textarea", { name: "public_key", rows: 3, required: true, spellcheck: "false" }),
      "The contents of ~/.ssh/id_ed25519.pub or id_rsa.pub."),
    h("button", { type: "submit", class: "primary" }, "Add key"));
  onSubmit(form, async (values) => {
    await api.post("/api/keys/", { name: values.name, public_key: values.public_key.trim() });
    form.reset();
    announce("The key was added.");
    await load();
  });
  fill(main, title, list, form);
  await load();
}
