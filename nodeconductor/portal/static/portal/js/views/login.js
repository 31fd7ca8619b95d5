// The login page: username and password traded for an API token at /api-auth/password/.

import * as api from "../api.js";
import { field, fill, formError, h, onSubmit } from "../dom.js";

/** Render the login form; `onLogin` runs once the token is stored. */
export function loginPage(main, { onLogin }) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card narrow", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to NodeConductor"),
    formError(),
    field("Username", username),
    field("Password", password),
    h("button", { type: "submit", class: "primary" }, "Log in"));
  onSubmit(form, async (values) => {
    await api.login(values.username.trim(), values.password);
    await onLogin();
  });
  fill(main, form);
  username.focus();
}
