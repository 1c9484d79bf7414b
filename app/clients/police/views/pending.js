// Registrations waiting for review (the phone is not the registry's): approve or reject.
import { h, table, confirmDialog } from "../dom.js";

const BASE = "/api/v1/police/accounts";

export async function pendingView(ctx, { query }) {
  const { t } = ctx;
  const page = await ctx.call("GET", ctx.withQuery(`${BASE}/pending`, { page: query.page, per_page: 20 }));
  const decide = (item, decision) => async () => {
    const reason = await confirmDialog({
      message: t(`pending.${decision}_confirm`, { id: item.account_id, name: item.full_name }),
      confirmLabel: t(`pending.${decision}`), cancelLabel: t("common.cancel"),
      input: decision === "reject" ? { label: t("common.reason"), required: true } : null,
    });
    if (reason === null) return;
    ctx.clearMessages();
    try {
      const done = await ctx.call("POST", `${BASE}/${item.account_id}/review`, { body:
        decision === "reject" ? { decision, reason } : { decision } });
      await ctx.reload();
      ctx.ok(t("pending.done", { id: done.account_id, status: ctx.status(done.status) }));
    } catch (error) {
      ctx.fail(error);
    }
  };
  const goTo = (number) => ctx.go(ctx.withQuery("#/pending", { page: number }));
  return h("section", { "aria-labelledby": "pending-heading" },
    h("h1", { id: "pending-heading" }, t("pending.heading")),
    page.items.length ? table({
      id: "pending-table", caption: t("pending.caption"), rows: page.items,
      rowAttrs: (item) => ({ "data-account": item.account_id }),
      columns: [
        { title: t("pending.account"), cell: (item) => String(item.account_id) },
        { title: t("person.name"), cell: (item) => item.full_name },
        { title: t("common.commune"), cell: (item) => item.commune_code },
        { title: t("pending.created"), cell: (item) => ctx.dateTime(item.created_at) },
        { title: t("common.actions"), cell: (item) => h("div", { class: "row" },
          h("button", { type: "button", class: "primary", "data-act": "approve",
            onclick: decide(item, "approve") }, t("pending.approve")),
          h("button", { type: "button", class: "danger", "data-act": "reject",
            onclick: decide(item, "reject") }, t("pending.reject"))) },
      ],
    }) : h("p", { id: "pending-empty" }, t("common.none")),
    ctx.pager(page, goTo));
}
