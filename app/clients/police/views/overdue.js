// Everything past its deadline in the jurisdiction: reports, stays, absences; and, for
// supervisors, the province-wide residence list (others get 403 residence.supervisor_only).
import { h, table } from "../dom.js";
import { currentRole } from "../session.js";
import { reportsTable } from "./reports.js";
import { residenceTable } from "./residence.js";

async function provinceWide(ctx) {
  const { t } = ctx;
  if (currentRole() !== "supervisor") {
    return h("p", { class: "muted", id: "overdue-supervisor-only" }, t("overdue.supervisor_only"));
  }
  try {
    const [stays, absences] = await Promise.all(["temporary_stay", "absence"].map((kind) =>
      ctx.call("GET", ctx.withQuery("/api/v1/police/residence/overdue", { kind, per_page: 50 }))));
    const rows = [...stays.items.map((item) => ({ ...item, kind: "stays" })),
      ...absences.items.map((item) => ({ ...item, kind: "absences" }))];
    return rows.length ? table({ id: "overdue-province", caption: t("overdue.province"), rows,
      columns: [
        { title: t("stays.id"), cell: (item) => h("a", { href: `#/${item.kind}/${item.id}` },
          `${t(`nav.${item.kind}`)} #${item.id}`) },
        { title: t("common.status"), cell: (item) => ctx.status(item.status) },
        { title: t("common.commune"), cell: (item) => `${item.commune_name || ""} (${item.commune_code})` },
        { title: t("stays.decide_by"), cell: (item) => ctx.dateTime(item.decide_by) },
      ] }) : h("p", {}, t("common.none"));
  } catch (error) {
    if (error.code === "residence.supervisor_only") {
      return h("p", { class: "muted", id: "overdue-supervisor-only" }, t("overdue.supervisor_only"));
    }
    throw error;
  }
}

export async function overdueView(ctx) {
  const { t } = ctx;
  const [reports, stays, absences] = await Promise.all([
    ctx.call("GET", ctx.withQuery("/api/v1/police/reports", { overdue: "true", per_page: 50 })),
    ctx.call("GET", ctx.withQuery("/api/v1/police/residence/stays", { overdue: "true", per_page: 50 })),
    ctx.call("GET", ctx.withQuery("/api/v1/police/residence/absences", { overdue: "true", per_page: 50 })),
  ]);
  const part = async (key, page, make) => h("section", { class: "card" },
    h("h2", {}, `${t(key)} (${page.total})`),
    page.items.length ? await make() : h("p", {}, t("common.none")));
  return h("section", { "aria-labelledby": "overdue-heading" },
    h("h1", { id: "overdue-heading" }, t("overdue.heading")),
    await part("overdue.reports", reports, () => reportsTable(ctx, reports, "overdue-reports")),
    await part("overdue.stays", stays, () => residenceTable(ctx, "stays", stays, "overdue-stays")),
    await part("overdue.absences", absences,
      () => residenceTable(ctx, "absences", absences, "overdue-absences")),
    h("section", { class: "card" }, h("h2", {}, t("overdue.province")), await provinceWide(ctx)));
}
