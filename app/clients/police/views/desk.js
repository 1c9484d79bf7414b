// The in-person desk: look a citizen up (the id in the body, never the URL), then raise the
// account to level 2, bind a new phone (in-person recovery) or reclaim the identity.
// Every act is confirmed in a dialog; the personal id stays in this screen's memory only.
import { h, field, select, facts, replace, confirmDialog } from "../dom.js";

const BASE = "/api/v1/police";
const ID_PATTERN = "[0-9]{12}";

function checkSelect(ctx, id) {
  return select(id, ["face", "fingerprint"].map((value) => [value, ctx.t(`check.${value}`)]), "face");
}

function idInput(id) {
  return h("input", { id, name: id, inputmode: "numeric", pattern: ID_PATTERN, maxlength: 12,
    required: true, autocomplete: "off" });
}

/** A form whose submit checks the fields, asks for confirmation, then runs ``act``. */
function deskForm(ctx, { id, heading, fields, submitLabel, confirm, act, folded = false }) {
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert" });
  const body = [fields, error,
    h("button", { type: "submit", class: "primary", id: `${id}-submit` }, submitLabel)];
  const form = h("form", { id, class: "card", novalidate: true }, folded
    ? h("details", { id: `${id}-details` }, h("summary", {}, h("h2", {}, heading)), body)
    : [h("h2", {}, heading), body]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const bad = form.querySelector(":invalid");
    if (bad) {
      error.textContent = `${form.querySelector(`label[for="${bad.id}"]`).textContent}: ${bad.validationMessage}`;
      bad.focus();
      return;
    }
    if (await confirmDialog({ message: confirm(), confirmLabel: submitLabel,
      cancelLabel: ctx.t("common.cancel") }) === null) return;
    ctx.clearMessages();
    try {
      await act();
    } catch (failure) {
      ctx.fail(failure);
    }
  });
  return form;
}

function deviceFields(ctx, prefix, phoneRequired) {
  const { t } = ctx;
  const inputs = {
    deviceId: h("input", { id: `${prefix}-device-id`, required: true, pattern: "[A-Za-z0-9._:\\-]{8,64}",
      maxlength: 64, autocomplete: "off", spellcheck: "false" }),
    deviceKey: h("textarea", { id: `${prefix}-device-key`, required: true, rows: 2, spellcheck: "false" }),
    check: checkSelect(ctx, `${prefix}-check`),
    phone: h("input", { id: `${prefix}-phone`, type: "tel", required: phoneRequired ? true : null,
      maxlength: 20, autocomplete: "off" }),
  };
  return { inputs, fields: [field(t("desk.check"), inputs.check),
    field(t("desk.device_id"), inputs.deviceId), field(t("desk.device_key"), inputs.deviceKey),
    field(t(phoneRequired ? "desk.phone" : "desk.phone_optional"), inputs.phone)] };
}

function citizenCard(ctx, citizen) {
  const { t } = ctx;
  const account = citizen.account;
  return h("section", { class: "card", id: "desk-citizen", "data-account-id": account ? account.account_id : "",
    "data-level": account ? account.level : "", "data-status": account ? account.status : "" },
  h("h2", {}, citizen.full_name),
  facts([[t("person.id"), citizen.personal_id], [t("person.dob"), ctx.day(citizen.date_of_birth)],
    [t("person.gender"), t(`gender.${citizen.gender}`)], [t("person.address"), citizen.address],
    [t("person.household"), citizen.household_id],
    [t("desk.account"), account ? `#${account.account_id} · ${ctx.status(account.status)}`
      : t("desk.no_account")],
    [t("desk.level"), account ? String(account.level) : null, "level"]]));
}

export function deskView(ctx) {
  const { t } = ctx;
  const personalId = idInput("desk-personal-id");
  const result = h("div", { id: "desk-result" });
  let current = null;

  const lookUp = async () => {
    current = await ctx.call("POST", `${BASE}/citizens/lookup`,
      { body: { personal_id: personalId.value.trim() } });
    render();
  };

  function level2Form(account) {
    const card = idInput("level2-card");
    const check = checkSelect(ctx, "level2-check");
    return deskForm(ctx, { id: "level2", heading: t("desk.level2"), submitLabel: t("desk.level2_submit"),
      fields: [field(t("desk.check"), check), field(t("desk.card_number"), card)],
      confirm: () => t("desk.level2_confirm", { id: account.account_id, name: current.full_name }),
      act: async () => {
        const done = await ctx.call("POST", `${BASE}/accounts/${account.account_id}/level2`,
          { body: { card_number: card.value.trim(), check: check.value } });
        await lookUp();
        ctx.ok(t("desk.level2_done", { id: done.account_id, level: done.level }));
      } });
  }

  function recoveryForm(account) {
    const { inputs, fields } = deviceFields(ctx, "recovery", false);
    return deskForm(ctx, { id: "recovery", heading: t("desk.recovery"), submitLabel: t("desk.recovery_submit"),
      fields, folded: true, confirm: () => t("desk.recovery_confirm", { id: account.account_id, name: current.full_name }),
      act: async () => {
        const done = await ctx.call("POST", `${BASE}/accounts/${account.account_id}/device`, { body: {
          device_id: inputs.deviceId.value.trim(), device_public_key: inputs.deviceKey.value.trim(),
          check: inputs.check.value, phone: inputs.phone.value.trim() || null } });
        await lookUp();
        ctx.ok(t("desk.recovery_done", { id: done.account_id }));
      } });
  }

  function reclaimForm() {
    const { inputs, fields } = deviceFields(ctx, "reclaim", true);
    const card = idInput("reclaim-card");
    const reason = h("input", { id: "reclaim-reason", required: true, minlength: 3, maxlength: 500 });
    return deskForm(ctx, { id: "reclaim", heading: t("desk.reclaim"), submitLabel: t("desk.reclaim_submit"),
      folded: true,
      fields: [field(t("desk.card_number"), card), ...fields, field(t("desk.reclaim_reason"), reason)],
      confirm: () => t("desk.reclaim_confirm"),
      act: async () => {
        const started = await ctx.call("POST", `${BASE}/accounts/reclaim`, { body: {
          personal_id: current.personal_id, card_number: card.value.trim(), check: inputs.check.value,
          device_id: inputs.deviceId.value.trim(), device_public_key: inputs.deviceKey.value.trim(),
          phone: inputs.phone.value.trim(), reason: reason.value.trim() } });
        await lookUp();
        ctx.ok(t("desk.reclaim_done", { phone: started.phone_masked,
          minutes: Math.round(started.expires_in / 60), id: started.registration_id,
          old: started.superseded_status ? ctx.status(started.superseded_status) : "—" }));
      } });
  }

  function render() {
    if (!current) {
      replace(result);
      return;
    }
    const account = current.account;
    const canRaise = account && account.status === "active" && account.level < 2;
    replace(result, citizenCard(ctx, current),
      canRaise ? level2Form(account) : null,
      account ? recoveryForm(account) : null,
      reclaimForm());
  }

  const lookupForm = h("form", { id: "desk-lookup", class: "card", role: "search", novalidate: true },
    h("h2", {}, t("desk.lookup")), field(t("desk.personal_id"), personalId),
    h("button", { type: "submit", class: "primary", id: "desk-lookup-submit" }, t("desk.lookup_submit")));
  lookupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.clearMessages();
    current = null;
    render();
    if (!personalId.checkValidity()) {
      ctx.fail(new Error(`${t("desk.personal_id")}: ${personalId.validationMessage}`));
      personalId.focus();
      return;
    }
    try {
      await lookUp();
      result.querySelector("h2").setAttribute("tabindex", "-1");
      result.querySelector("h2").focus();
    } catch (error) {
      ctx.fail(error.status === 404 ? new Error(t("desk.not_found")) : error);
    }
  });
  return h("section", { "aria-labelledby": "desk-heading" },
    h("h1", { id: "desk-heading" }, t("desk.heading")),
    h("p", { class: "muted" }, t("desk.intro")),
    lookupForm, result);
}
