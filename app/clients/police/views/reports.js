// Incident reports: the jurisdiction's queue, and one case with its history and acts.
import { h, field, select, facts, table, confirmDialog } from "../dom.js";
import { communeNamer, listProvinces, listCommunes } from "../units.js";

const CATEGORIES = ["crime", "fraud", "fire_hazard", "traffic", "environment", "other"];
const STATUSES = ["received", "verifying", "investigating", "closed", "rejected"];
const STATUS_ACTS = ["verify", "investigate", "close", "reject"];
const BASE = "/api/v1/police/reports";

/** The filters' form: it writes them to the hash (so a filtered queue is a link). */
export function filterForm(ctx, route, query, controls) {
  const form = h("form", { class: "filters", id: `${route}-filters`, role: "search" },
    controls, h("button", { type: "submit", class: "primary", id: "filter-submit" },
      ctx.t("common.filter")),
    h("button", { type: "button", id: "filter-reset", onclick: () => ctx.go(`#/${route}`) },
      ctx.t("common.reset")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {};
    for (const element of form.elements) {
      if (!element.name) continue;
      const value = element.type === "checkbox" ? (element.checked ? "true" : "") : element.value;
      if (value) next[element.name] = value;
    }
    ctx.go(ctx.withQuery(`#/${route}`, next));
  });
  return form;
}

/** A checkbox field for the filters (``overdue``). */
export function checkbox(id, label, checked) {
  return h("div", { class: "field check" },
    h("input", { type: "checkbox", id, name: id, value: "true", checked: checked === "true" }),
    h("label", { for: id }, label));
}

function badges(ctx, item) {
  return [item.overdue ? h("span", { class: "badge bad" }, ctx.t("common.overdue")) : null,
    item.anonymous ? h("span", { class: "badge" }, ctx.t("reports.anonymous")) : null,
    item.assigned ? h("span", { class: "badge ok" }, ctx.t("reports.assigned")) : null];
}

/** The reports table (also used by the overdue screen). */
export async function reportsTable(ctx, page, id = "reports-table") {
  const { t } = ctx;
  const commune = await communeNamer(page.items.map((item) => item.province_code));
  return table({
    id,
    caption: t("reports.caption"),
    rows: page.items,
    rowAttrs: (item) => ({ "data-case": item.case_number, "data-status": item.status }),
    columns: [
      { title: t("reports.case"), cell: (item) => h("a", { href: `#/reports/${item.case_number}` },
        item.case_number) },
      { title: t("reports.category"), cell: (item) => t(`category.${item.category}`) },
      { title: t("common.status"), cell: (item) => [h("span", { class: "status-text" },
        ctx.status(item.status)), " ", badges(ctx, item)] },
      { title: t("reports.place"), cell: (item) => (item.location_known ? commune(item.commune_code)
        : t("reports.location_unknown")) },
      { title: t("reports.filed"), cell: (item) => ctx.dateTime(item.created_at) },
      { title: t("reports.due"), cell: (item) => ctx.dateTime(item.due_at) },
    ],
  });
}

export async function reportsView(ctx, { query }) {
  const { t } = ctx;
  const page = await ctx.call("GET", ctx.withQuery(BASE, { ...query, per_page: 20 }));
  const goTo = (number) => ctx.go(ctx.withQuery("#/reports", { ...query, page: number }));
  return h("section", { "aria-labelledby": "reports-heading" },
    h("h1", { id: "reports-heading" }, t("reports.heading")),
    filterForm(ctx, "reports", query, [
      field(t("reports.category"), select("category",
        [["", t("common.any")], ...CATEGORIES.map((c) => [c, t(`category.${c}`)])], query.category)),
      field(t("common.status"), select("status",
        [["", t("common.any")], ...STATUSES.map((s) => [s, t(`status.${s}`)])], query.status)),
      field(t("reports.filed_from"), h("input", { type: "date", id: "filed_from", name: "filed_from",
        value: query.filed_from || "" })),
      field(t("reports.filed_to"), h("input", { type: "date", id: "filed_to", name: "filed_to",
        value: query.filed_to || "" })),
      checkbox("overdue", t("reports.only_overdue"), query.overdue),
    ]),
    page.items.length ? await reportsTable(ctx, page) : h("p", { id: "reports-empty" }, t("common.none")),
    ctx.pager(page, goTo));
}

function timeline(ctx, history) {
  const { t } = ctx;
  return h("ol", { class: "timeline", id: "case-history" }, history.map((event) => h("li",
    { "data-action": event.action, "data-status": event.status },
    h("span", { class: "when" }, ctx.dateTime(event.at), " · ",
      event.by || t("case.by_reporter"), event.officer ? ` (${event.officer})` : ""),
    h("strong", {}, t(`act.${event.action}`)),
    event.from_status && event.from_status !== event.status
      ? ` ${ctx.status(event.from_status)} → ${ctx.status(event.status)}` : "",
    event.text ? h("p", { class: "text" }, event.text) : null)));
}

function evidenceList(ctx, report) {
  const { t } = ctx;
  if (!report.evidence.length) return h("p", {}, t("case.no_evidence"));
  return h("ul", { class: "evidence" }, report.evidence.map((item) => {
    const slot = h("div");
    const view = h("button", { type: "button", class: "secondary", onclick: async () => {
      try {
        const blob = await ctx.blob(`${BASE}/${report.case_number}/evidence/${item.id}`);
        const url = URL.createObjectURL(blob);
        slot.replaceChildren(item.content_type.startsWith("image/")
          ? h("img", { src: url, alt: `${t("case.evidence")} ${item.id}` })
          : h("a", { href: url, download: `evidence-${item.id}` }, `evidence-${item.id}`));
      } catch (error) {
        ctx.fail(error);
      }
    } }, t("case.evidence_view"));
    return h("li", {}, t("case.evidence_item", { type: item.content_type,
      size: Math.ceil(item.size / 1024), at: ctx.dateTime(item.received_at) }), " ", view, slot);
  }));
}

/** Run one act on the case; a case changed meanwhile is loaded again, with a word why. */
async function act(ctx, report, path, body, done) {
  ctx.clearMessages();
  try {
    await ctx.call("POST", `${BASE}/${report.case_number}${path}`,
      { body: { ...body, version: report.version } });
    ctx.reload().then(() => ctx.ok(done));
  } catch (error) {
    if (error.code === "workflow.case_changed") {
      await ctx.reload();
      ctx.fail(new Error(ctx.t("common.version_changed")));
    } else {
      ctx.fail(error);
    }
  }
}

function statusButtons(ctx, report) {
  const { t } = ctx;
  const acts = STATUS_ACTS.filter((name) => report.allowed_acts.includes(name));
  return acts.map((name) => h("button", {
    type: "button", "data-act": name, class: name === "reject" ? "danger" : "primary",
    onclick: async () => {
      const needs = { close: ["outcome", "act.close_confirm", "act.outcome"],
        reject: ["reason", "act.reject_confirm", "common.reason"] }[name];
      const answer = await confirmDialog({
        message: needs ? t(needs[1], { case: report.case_number })
          : t("act.confirm", { act: t(`act.${name}`), case: report.case_number }),
        confirmLabel: t(`act.${name}`), cancelLabel: t("common.cancel"),
        input: needs ? { label: t(needs[2]), required: true } : null,
      });
      if (answer === null) return;
      const body = { action: name };
      if (needs) body[needs[0]] = answer;
      await act(ctx, report, "/status", body, t("case.moved", { status: ctx.status({
        verify: "verifying", investigate: "investigating", close: "closed", reject: "rejected",
      }[name]) }));
    },
  }, t(`act.${name}`)));
}

function askForm(ctx, report) {
  const { t } = ctx;
  const text = h("textarea", { id: "question-text", name: "text", rows: 3, required: true,
    maxlength: 2000 });
  const form = h("form", { id: "question-form", class: "card" },
    h("h2", {}, t("case.ask")), field(t("case.ask_label"), text),
    h("button", { type: "submit", class: "primary", id: "question-submit" }, t("case.ask_submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim()) {
      text.focus();
      return;
    }
    await act(ctx, report, "/questions", { text: text.value.trim() }, t("case.asked"));
  });
  return form;
}

/** Province and commune selects, the communes following the province chosen. */
export async function unitPicker(ctx, prefix, { province = "", commune = "" } = {}) {
  const { t } = ctx;
  const provinces = await listProvinces();
  const provinceSelect = select(`${prefix}-province`,
    [["", "—"], ...provinces.map((p) => [p.code, `${p.name} (${p.code})`])], province);
  const communeSelect = select(`${prefix}-commune`, [["", t("reports.location_unknown")]], commune);
  const fill = async () => {
    const list = provinceSelect.value ? await listCommunes(provinceSelect.value) : [];
    communeSelect.replaceChildren(...[["", t("reports.location_unknown")],
      ...list.map((c) => [c.code, `${c.name} (${c.code})`])]
      .map(([value, text]) => h("option", { value, selected: value === commune }, text)));
  };
  provinceSelect.addEventListener("change", () => fill().catch((error) => ctx.fail(error)));
  if (province) await fill();
  return { provinceSelect, communeSelect,
    fields: [field(t("common.province"), provinceSelect), field(t("common.commune"), communeSelect)] };
}

async function transferForm(ctx, report) {
  const { t } = ctx;
  const units = await unitPicker(ctx, "transfer", { province: report.province_code });
  const reason = h("input", { id: "transfer-reason", name: "reason", required: true, maxlength: 500 });
  const form = h("form", { id: "transfer-form", class: "card" },
    h("h2", {}, t("case.transfer")), units.fields, field(t("common.reason"), reason),
    h("button", { type: "submit", id: "transfer-submit" }, t("case.transfer_submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      reason.focus();
      return;
    }
    ctx.clearMessages();
    try {
      await ctx.call("POST", `${BASE}/${report.case_number}/transfer`, { body: {
        province_code: units.provinceSelect.value || null,
        commune_code: units.communeSelect.value || null,
        reason: reason.value.trim(), version: report.version } });
      ctx.go("#/reports");
      setTimeout(() => ctx.ok(t("case.transferred")), 0);
    } catch (error) {
      ctx.fail(error);
    }
  });
  return form;
}

function reporterPanel(ctx, report) {
  const { t } = ctx;
  const slot = h("div", { id: "reporter" });
  return h("div", { class: "card" }, h("button", { type: "button", id: "reporter-show",
    onclick: async () => {
      try {
        const who = await ctx.call("GET", `${BASE}/${report.case_number}/reporter`);
        slot.replaceChildren(h("h2", {}, t("case.reporter_heading")), facts([
          [t("person.name"), who.full_name], [t("person.id"), who.personal_id],
          [t("person.dob"), ctx.day(who.date_of_birth)], [t("person.address"), who.address],
          [t("desk.phone"), who.phone]]));
      } catch (error) {
        ctx.fail(error);
      }
    } }, t("case.reporter")), slot);
}

export async function reportView(ctx, { params }) {
  const { t } = ctx;
  const [caseNumber] = params;
  const report = await ctx.call("GET", `${BASE}/${encodeURIComponent(caseNumber)}`);
  const commune = await communeNamer([report.province_code]);
  const open = report.allowed_acts.length > 0;
  const take = report.allowed_acts.includes("assign") && !report.assigned_to
    ? h("button", { type: "button", "data-act": "assign", class: "secondary", onclick: () =>
      act(ctx, report, "/assign", {}, t("case.taken")) }, t("case.take")) : null;
  return h("article", { id: "case", "data-case": report.case_number, "data-status": report.status,
    "data-version": report.version },
  h("p", {}, h("a", { href: "#/reports" }, `← ${t("common.back")}`)),
  h("h1", { id: "case-number" }, t("case.heading", { case: report.case_number })),
  h("p", {}, h("span", { id: "case-status", class: "badge" }, ctx.status(report.status)), " ",
    badges(ctx, { ...report, assigned: Boolean(report.assigned_to) })),
  h("div", { class: "columns" },
    h("div", {},
      h("section", { class: "card", "aria-labelledby": "case-details" },
        h("h2", { id: "case-details" }, t("common.details")),
        facts([
          [t("reports.category"), t(`category.${report.category}`)],
          [t("case.description"), report.description],
          [t("case.occurred"), ctx.dateTime(report.occurred_at)],
          [t("reports.place"), report.location_known ? commune(report.commune_code)
            : t("reports.location_unknown")],
          [t("case.address"), report.address],
          [t("case.organisation"), report.organisation
            ? `${report.organisation.name} (${report.organisation.tax_code})` : null],
          [t("reports.filed"), ctx.dateTime(report.created_at)],
          [t("reports.due"), ctx.dateTime(report.due_at)],
          [t("case.assigned_to"), report.assigned_to || t("case.unassigned")],
          [t("case.resolution"), report.resolution],
        ])),
      report.indicators.length ? h("section", { class: "card" },
        h("h2", {}, t("case.indicators")),
        h("ul", { id: "case-indicators" }, report.indicators.map((item) => h("li", {},
          h("span", { class: "mono" }, item.value), " — ",
          t(item.reports_exact === false ? "case.indicator_reports_more"
            : "case.indicator_reports", { count: item.reports }))))) : null,
      h("section", { class: "card" }, h("h2", {}, t("case.evidence")), evidenceList(ctx, report)),
      h("section", { class: "card", "aria-labelledby": "history-heading" },
        h("h2", { id: "history-heading" }, t("common.history")), timeline(ctx, report.history))),
    h("div", {},
      h("section", { class: "card", "aria-labelledby": "acts-heading" },
        h("h2", { id: "acts-heading" }, t("common.actions")),
        open ? h("div", { class: "buttons", id: "case-acts" }, statusButtons(ctx, report), take)
          : h("p", {}, t("case.no_acts"))),
      report.allowed_acts.includes("ask") ? askForm(ctx, report) : null,
      report.allowed_acts.includes("transfer") ? await transferForm(ctx, report) : null,
      report.anonymous ? null : reporterPanel(ctx, report))));
}
