// The police console: the shell (header, navigation, messages) and a hash router.
// Screens live in views/*.js; each gets the context ``ctx`` built here.
import { createI18n } from "/clients/shared/i18n.js";
import { ApiError } from "/clients/shared/api.js";
import { h, replace } from "./dom.js";
import * as session from "./session.js";
import { vi, en } from "./strings.js";
import { STRINGS as VERIFIER } from "/verify/strings.js";
import { loginView } from "./views/login.js";
import { reportsView, reportView } from "./views/reports.js";
import { staysView, stayView, absencesView, absenceView } from "./views/residence.js";
import { pendingView } from "./views/pending.js";
import { overdueView } from "./views/overdue.js";
import { deskView } from "./views/desk.js";
import { verifyView } from "./views/verify.js";

/** The verifier page's words for reason codes, credential types and claims. */
function verifierWords(lang) {
  return Object.fromEntries(Object.entries(VERIFIER[lang])
    .filter(([key]) => /^(reason|type|claim)\./.test(key)));
}

const i18n = createI18n({ vi: { ...verifierWords("vi"), ...vi }, en: { ...verifierWords("en"), ...en } },
  { storageKey: "vnid.police.lang" });
const { t } = i18n;
const view = document.getElementById("view");
const flash = document.getElementById("flash");
const alertBox = document.getElementById("alert");

const ROUTES = [
  [/^reports$/, reportsView], [/^reports\/([A-Z0-9-]+)$/, reportView],
  [/^stays$/, staysView], [/^stays\/(\d+)$/, stayView],
  [/^absences$/, absencesView], [/^absences\/(\d+)$/, absenceView],
  [/^pending$/, pendingView], [/^overdue$/, overdueView],
  [/^desk$/, deskView], [/^verify$/, verifyView],
];

function locale() { return i18n.lang === "vi" ? "vi-VN" : "en-GB"; }

function formatter(options) {
  return new Intl.DateTimeFormat(locale(), { timeZone: "Asia/Ho_Chi_Minh", ...options });
}

/** The text of an ApiError (or any error) for the officer, with the fields it names. */
function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 0) return t("error.network");
    const lines = [t("error.generic", { status: error.status, message: error.message })];
    for (const [name, messages] of Object.entries(error.errors || {})) {
      const list = Array.isArray(messages) ? messages : [messages];
      lines.push(t("error.field", { field: name, messages: list
        .map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join("; ") }));
    }
    return lines.join("\n");
  }
  return String((error && error.message) || error);
}

const ctx = {
  t,
  i18n,
  call: session.call,
  blob: session.blob,
  withQuery: session.withQuery,
  go(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  },
  /** Re-render the current screen (after an act). */
  reload: () => route({ keepMessages: true }),
  ok(message) {
    alertBox.hidden = true;
    flash.textContent = message;
    flash.hidden = false;
  },
  fail(error) {
    flash.hidden = true;
    alertBox.textContent = describe(error);
    alertBox.dataset.code = error instanceof ApiError ? error.code : "";
    alertBox.hidden = false;
    alertBox.focus();
  },
  clearMessages() {
    flash.hidden = true;
    alertBox.hidden = true;
    alertBox.dataset.code = "";
  },
  date: (iso) => (iso ? formatter({ dateStyle: "short" }).format(new Date(iso)) : ""),
  dateTime: (iso, timeStyle = "short") => (iso ? formatter({ dateStyle: "short", timeStyle })
    .format(new Date(iso)) : ""),
  /** A YYYY-MM-DD date (no time zone) in the officer's language. */
  day: (text) => (text ? new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeZone: "UTC" })
    .format(new Date(`${text}T00:00:00Z`)) : ""),
  status: (value) => (value ? t(`status.${value}`) : ""),
  /** Page controls under a table: previous/next, and where we are. */
  pager(data, goTo) {
    const pages = Math.max(1, Math.ceil((data.total || 0) / data.per_page));
    const text = data.total_exact === false
      ? t("common.page_more", { page: data.page, total: data.total })
      : t("common.page", { page: data.page, pages, total: data.total });
    return h("nav", { class: "pager row", "aria-label": text },
      h("button", { type: "button", class: "secondary", id: "page-prev",
        disabled: data.page <= 1, onclick: () => goTo(data.page - 1) }, t("common.prev")),
      h("span", { id: "page-info" }, text),
      h("button", { type: "button", class: "secondary", id: "page-next",
        disabled: data.total_exact !== false && data.page >= pages,
        onclick: () => goTo(data.page + 1) }, t("common.next")));
  },
};

function parseHash() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(2) : "";
  const [path, query = ""] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(query)) };
}

function showShell(loggedIn) {
  document.getElementById("nav").hidden = !loggedIn;
  document.getElementById("logout").hidden = !loggedIn;
  const who = document.getElementById("officer");
  who.hidden = !loggedIn;
  who.textContent = loggedIn ? t("session.officer", { name: session.currentOfficer() }) : "";
}

let rendering = 0;

async function route({ keepMessages = false } = {}) {
  if (location.hash && !location.hash.startsWith("#/")) return; // the skip link's target
  const loggedIn = session.currentOfficer() !== null;
  const { path, query } = parseHash();
  if (!loggedIn && path !== "login") {
    location.replace(`#/login?next=${encodeURIComponent(path || "reports")}`);
    return;
  }
  if (loggedIn && (path === "" || path === "login")) {
    location.replace(`#/${query.next || "reports"}`);
    return;
  }
  showShell(loggedIn);
  if (!keepMessages) ctx.clearMessages();
  for (const link of document.querySelectorAll("#nav a")) {
    const current = path.split("/")[0] === link.dataset.route;
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const ticket = ++rendering;
  let render = path === "login" ? loginView : null;
  let params = [];
  for (const [pattern, screen] of render ? [] : ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      render = screen;
      params = match.slice(1);
      break;
    }
  }
  if (!render) {
    location.replace("#/reports");
    return;
  }
  view.setAttribute("aria-busy", "true");
  delete view.dataset.shown;
  replace(view, h("p", { class: "muted" }, t("common.loading")));
  try {
    const node = await render(ctx, { params, query, path });
    if (ticket !== rendering) return; // the officer went elsewhere meanwhile
    replace(view, node);
    const heading = view.querySelector("h1");
    if (heading && !keepMessages) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  } catch (error) {
    if (ticket !== rendering) return;
    replace(view);
    if (!(error instanceof ApiError && error.status === 401)) ctx.fail(error);
  } finally {
    if (ticket === rendering) {
      view.removeAttribute("aria-busy");
      view.dataset.shown = location.hash; // what the screen shows now (the tests wait for it)
    }
  }
}

session.whenExpired(() => {
  const { path } = parseHash();
  location.hash = `#/login?expired=1&next=${encodeURIComponent(path === "login" ? "reports" : path)}`;
});

document.getElementById("logout").addEventListener("click", async () => {
  await session.logout();
  location.hash = "#/login?bye=1";
});
document.getElementById("lang-switch").addEventListener("click", () => {
  i18n.setLang(i18n.lang === "vi" ? "en" : "vi");
  route({ keepMessages: true });
});
window.addEventListener("hashchange", () => route());

async function start() {
  i18n.apply(document);
  if (parseHash().path !== "login") {
    replace(view, h("p", { class: "muted" }, t("login.resuming")));
  }
  await session.resume();
  document.body.dataset.ready = "1";
  route();
}

start();
