// Residence: the queues of temporary stays and absences, and one declaration to decide.
import { h, field, select, facts, table, confirmDialog } from "../dom.js";
import { communeNamer } from "../units.js";
import { filterForm, checkbox } from "./reports.js";

const BASE = "/api/v1/police/residence";
const STAY_STATUSES = ["awaiting_host", "awaiting_check", "submitted", "approved", "rejected",
  "refused_by_host", "withdrawn"];
const ABSENCE_STATUSES = ["declared", "acknowledged", "withdrawn"];

function overdueBadge(ctx, item) {
  return item.overdue ? h("span", { class: "badge bad" }, ctx.t("common.overdue")) : null;
}

/** The stays or absences table (also used by the overdue screen). */
export function residenceTable(ctx, kind, page, id = `${kind}-table`) {
  const { t } = ctx;
  const columns = [
    { title: t("stays.id"), cell: (item) => h("a", { href: `#/${kind}/${item.id}` }, `#${item.id}`) },
    { title: t("common.status"), cell: (item) => [ctx.status(item.status), " ", overdueBadge(ctx, item)] },
    { title: t("common.commune"), cell: (item) => item.commune_code },
    { title: t("stays.period"), cell: (item) => `${ctx.day(item.start_date)} – ${ctx.day(item.end_date)}` },
    { title: t("stays.decide_by"), cell: (item) => ctx.dateTime(item.decide_by) },
  ];
  if (kind === "stays") {
    columns.splice(2, 0, { title: t("stays.host_check"), cell: (item) => t(`host_check.${item.host_check}`) });
  }
  return table({ id, caption: t("stays.caption"), rows: page.items, columns,
    rowAttrs: (item) => ({ "data-id": item.id, "data-status": item.status }) });
}

function queueView(kind, statuses, heading) {
  return async (ctx, { query }) => {
    const { t } = ctx;
    const path = kind === "stays" ? `${BASE}/stays` : `${BASE}/absences`;
    const page = await ctx.call("GET", ctx.withQuery(path, { ...query, per_page: 20 }));
    const goTo = (number) => ctx.go(ctx.withQuery(`#/${kind}`, { ...query, page: number }));
    return h("section", { "aria-labelledby": `${kind}-heading` },
      h("h1", { id: `${kind}-heading` }, t(heading)),
      filterForm(ctx, kind, query, [
        field(t("common.status"), select("status",
          [["", t("common.any")], ...statuses.map((s) => [s, t(`status.${s}`)])], query.status)),
        field(t("common.commune"), h("input", { id: "commune_code", name: "commune_code",
          value: query.commune_code || "", inputmode: "numeric", pattern: "[0-9]{5}", maxlength: 5 })),
        checkbox("overdue", t("reports.only_overdue"), query.overdue),
      ]),
      page.items.length ? residenceTable(ctx, kind, page) : h("p", { id: `${kind}-empty` }, t("common.none")),
      ctx.pager(page, goTo));
  };
}

export const staysView = queueView("stays", STAY_STATUSES, "stays.heading");
export const absencesView = queueView("absences", ABSENCE_STATUSES, "absences.heading");

function person(ctx, who, id) {
  const { t } = ctx;
  return facts([[t("person.name"), who.full_name], [t("person.id"), who.personal_id],
    [t("person.dob"), ctx.day(who.date_of_birth)], [t("person.address"), who.address]], { id });
}

function history(ctx, entries) {
  const { t } = ctx;
  return h("ol", { class: "timeline", id: "case-history" }, entries.map((entry) => h("li",
    { "data-action": entry.action, "data-status": entry.to_state },
    h("span", { class: "when" }, ctx.dateTime(entry.occurred_at), " · ", entry.role === "officer"
      || entry.role === "supervisor" ? entry.by || "" : t(`role.${entry.role}`)),
    h("strong", {}, t(`act.${entry.action}`)),
    entry.from_state ? ` ${ctx.status(entry.from_state)} → ${ctx.status(entry.to_state)}` : "",
    entry.note ? h("p", { class: "text" }, entry.note) : null)));
}

/** The buttons of the acts allowed now; reject asks for a reason, every act for a confirmation. */
function actButtons(ctx, kind, item, confirmKeys) {
  const { t } = ctx;
  return h("div", { class: "buttons", id: "case-acts" }, (item.allowed_actions || []).map((name) =>
    h("button", { type: "button", "data-act": name, class: name === "reject" ? "danger" : "primary",
      onclick: async () => {
        const answer = await confirmDialog({
          message: t(confirmKeys[name], { id: item.id }), confirmLabel: t(`act.${name}`),
          cancelLabel: t("common.cancel"),
          input: name === "reject" ? { label: t("common.reason"), required: true } : null,
        });
        if (answer === null) return;
        const body = { action: name, version: item.version };
        if (name === "reject") body.reason = answer;
        ctx.clearMessages();
        try {
          const done = await ctx.call("POST", `${BASE}/${kind}/${item.id}/actions`, { body });
          await ctx.reload();
          ctx.ok(t("stay.done", { status: ctx.status(done.status) }));
        } catch (error) {
          if (error.code === "workflow.case_changed") {
            await ctx.reload();
            ctx.fail(new Error(t("common.version_changed")));
          } else {
            ctx.fail(error);
          }
        }
      } }, t(`act.${name}`))));
}

function caseHeader(ctx, kind, item, heading) {
  const { t } = ctx;
  return [h("p", {}, h("a", { href: `#/${kind}` }, `← ${t("common.back")}`)),
    h("h1", { id: "case-number" }, heading),
    h("p", {}, h("span", { id: "case-status", class: "badge" }, ctx.status(item.status)), " ",
      overdueBadge(ctx, item))];
}

export async function stayView(ctx, { params }) {
  const { t } = ctx;
  const stay = await ctx.call("GET", `${BASE}/stays/${params[0]}`);
  const commune = await communeNamer([stay.province_code]);
  return h("article", { id: "case", "data-id": stay.id, "data-status": stay.status },
    caseHeader(ctx, "stays", stay, t("stay.heading", { id: stay.id })),
    h("div", { class: "columns" },
      h("div", {},
        h("section", { class: "card" }, h("h2", {}, t("common.details")), facts([
          [t("case.address"), stay.address], [t("common.commune"), commune(stay.commune_code)],
          [t("stays.period"), `${ctx.day(stay.start_date)} – ${ctx.day(stay.end_date)}`],
          [t("stay.reason"), stay.reason], [t("stays.host_check"), t(`host_check.${stay.host_check}`)],
          [t("stays.decide_by"), ctx.dateTime(stay.decide_by)],
          [t("stay.decided"), stay.decided_at ? `${ctx.dateTime(stay.decided_at)}${
            stay.decision_reason ? ` — ${stay.decision_reason}` : ""}` : null]])),
        h("section", { class: "card" }, h("h2", {}, t("stay.declarant")),
          person(ctx, stay.declarant, "declarant")),
        h("section", { class: "card" }, h("h2", {}, t("stay.host")), stay.host
          ? person(ctx, stay.host, "host")
          : h("p", { class: "status warn" }, t("stay.host_unknown", { id: stay.host_personal_id || "" }))),
        h("section", { class: "card" }, h("h2", {}, t("common.history")), history(ctx, stay.history))),
      h("section", { class: "card" }, h("h2", {}, t("common.actions")),
        stay.allowed_actions.length ? actButtons(ctx, "stays", stay, { approve: "stay.approve_confirm",
          reject: "stay.reject_confirm", check_host: "stay.check_host_confirm" })
          : h("p", {}, t("case.no_acts")))));
}

export async function absenceView(ctx, { params }) {
  const { t } = ctx;
  const absence = await ctx.call("GET", `${BASE}/absences/${params[0]}`);
  const commune = await communeNamer([absence.province_code]);
  return h("article", { id: "case", "data-id": absence.id, "data-status": absence.status },
    caseHeader(ctx, "absences", absence, t("absence.heading", { id: absence.id })),
    h("div", { class: "columns" },
      h("div", {},
        h("section", { class: "card" }, h("h2", {}, t("common.details")), facts([
          [t("common.commune"), commune(absence.commune_code)],
          [t("stays.period"), `${ctx.day(absence.start_date)} – ${ctx.day(absence.end_date)}`],
          [t("common.reason"), absence.reason], [t("absence.destination"), absence.destination],
          [t("stays.decide_by"), ctx.dateTime(absence.decide_by)]])),
        h("section", { class: "card" }, h("h2", {}, t("absence.citizen")),
          person(ctx, absence.citizen, "citizen")),
        h("section", { class: "card" }, h("h2", {}, t("common.history")), history(ctx, absence.history))),
      h("section", { class: "card" }, h("h2", {}, t("common.actions")),
        absence.allowed_actions.length ? actButtons(ctx, "absences", absence,
          { acknowledge: "absence.ack_confirm" }) : h("p", {}, t("case.no_acts")))));
}
