// Boots the portal: who is logged in, the navigation, and a hash router that gives each page the main element.

import * as api from "./api.js";
import { announce, fill, h, states } from "./dom.js";
import { cloudsPage } from "./views/clouds.js";
import { createPage } from "./views/create.js";
import { instancePage } from "./views/instance.js";
import { keysPage } from "./views/keys.js";
import { loginPage } from "./views/login.js";
import { homePage, projectPage } from "./views/project.js";
import { templatesPage } from "./views/templates.js";

const ROUTES = [
  [/^#?\/?$/, homePage],
  [/^#\/projects\/([\w-]+)$/, projectPage],
  [/^#\/projects\/([\w-]+)\/new$/, createPage],
  [/^#\/instances\/([\w-]+)$/, instancePage],
  [/^#\/clouds$/, cloudsPage],
  [/^#\/templates$/, templatesPage],
  [/^#\/keys$/, keysPage],
];

const main = document.getElementById("main");
let timers = [];
let generation = 0;

/**
 * What every page needs to know about the user, from the public API alone: his user record (GET /api/users/
 * shows non-staff only themselves, so the login name picks the row) and the customers he owns.
 */
async function loadContext() {
  const username = api.session.username;
  const users = await api.list("users", { username });
  const me = users.items.find((u) => u.username === username);
  if (!me) throw new Error("Your user record could not be read.");
  const customers = (await api.list("customers", { o: "name" })).items;
  const owned = customers.filter((c) => me.is_staff || (c.owners || []).includes(me.url));
  return { me, customers, owned, isOwner: owned.length > 0 };
}

let context = null;

/** Go to the login page without the token: `revoke` (the Log out button) has the server revoke it first; a token
 * the server already refused (401) is only forgotten. */
async function logout(message, { revoke = false } = {}) {
  if (revoke) await api.logout();
  else api.session.clear();
  context = null;
  location.hash = "#/";
  render().then(() => message && announce(message));
}

api.setUnauthorizedHandler(() => logout("Your session has ended. Please log in again."));

function navLink(href, label) {
  const current = location.hash === href || (href === "#/" && /^#?\/?(projects\/.*)?$/.test(location.hash));
  return h("a", { href, "aria-current": current ? "page" : null }, label);
}

function renderNav() {
  const nav = document.getElementById("nav");
  if (!context) return fill(nav);
  const { me, isOwner } = context;
  fill(nav,
    navLink("#/", "Projects"),
    isOwner ? navLink("#/clouds", "Clouds") : null,
    me.is_staff ? navLink("#/templates", "Templates") : null,
    navLink("#/keys", "SSH keys"),
    h("span", { class: "who" }, me.full_name || me.username, me.is_staff ? " (staff)" : ""),
    h("button", { type: "button", class: "link", onclick: () => logout("You are logged out.", { revoke: true }) }, "Log out"));
}

/** Run `fn` now and every `ms` while the current page is shown (paused while the tab is hidden). */
function poll(fn, ms) {
  const mine = generation;
  let busy = false;
  const tick = async () => {
    if (mine !== generation || busy || document.hidden) return;
    busy = true;
    try { await fn(); } finally { busy = false; }
  };
  timers.push(setInterval(tick, ms));
  return tick();
}

/** Whether a page that started loading is still the one shown (the user may have navigated away meanwhile). */
function alive(mine) { return () => mine === generation; }

async function render() {
  generation += 1;
  timers.forEach(clearInterval);
  timers = [];
  const mine = generation;
  if (!api.session.token) {
    renderNav();
    const container = h("div", { class: "page" });
    fill(main, container);
    return loginPage(container, { onLogin: async () => { await ensureContext(); location.hash = "#/"; render(); } });
  }
  try {
    await ensureContext();
  } catch (error) {
    if (error.status === 401) return;
    renderNav();
    return fill(main, states.error(error, render));
  }
  if (mine !== generation) return;
  renderNav();
  const hash = location.hash || "#/";
  for (const [pattern, page] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      // Each page fills its own container: a page still loading when the user moves on fills a detached one.
      const container = h("div", { class: "page" });
      fill(main, container);
      // Not awaited: every page draws its heading at once, then loads; navigation focuses that heading.
      page(container, { params: match.slice(1), ctx: context, poll, alive: alive(mine), refresh: refreshContext });
      return;
    }
  }
  fill(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Go to your projects")));
}

async function ensureContext() {
  if (!context) context = await loadContext();
}

/** Reload who-owns-what after the user created a customer or project. */
async function refreshContext() {
  context = await loadContext();
  renderNav();
  return context;
}

window.addEventListener("hashchange", () => {
  render().then(() => {
    // Move focus to the new page so keyboard and screen-reader users start at its heading, unless they are
    // already in one of its controls.
    const heading = main.querySelector("h1");
    const active = document.activeElement;
    if (heading && (!main.contains(active) || active === main)) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  });
});
render();
