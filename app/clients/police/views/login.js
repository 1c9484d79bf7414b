// Officer login: username, password, TOTP (POST /api/v1/auth/officer-login).
import { h, field } from "../dom.js";
import { login } from "../session.js";

export function loginView(ctx, { query }) {
  const { t } = ctx;
  if (query.expired) ctx.fail(new Error(t("session.expired")));
  else if (query.bye) ctx.ok(t("session.logged_out"));
  const username = h("input", { id: "username", name: "username", autocomplete: "username",
    required: true, maxlength: 64, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { id: "password", name: "password", type: "password",
    autocomplete: "current-password", required: true, maxlength: 1024 });
  const totp = h("input", { id: "totp", name: "totp", inputmode: "numeric", pattern: "[0-9]{6}",
    maxlength: 6, autocomplete: "one-time-code", required: true });
  const error = h("p", { id: "login-error", class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit" },
    t("login.submit"));
  const form = h("form", { id: "login-form", class: "card", novalidate: true },
    h("h1", {}, t("login.heading")),
    h("p", { class: "muted" }, t("login.intro")),
    field(t("login.username"), username),
    field(t("login.password"), password),
    field(t("login.totp"), totp),
    error,
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!form.checkValidity()) {
      const bad = form.querySelector(":invalid");
      error.textContent = `${form.querySelector(`label[for="${bad.id}"]`).textContent}: ${bad.validationMessage}`;
      bad.focus();
      return;
    }
    submit.disabled = true;
    try {
      await login(username.value.trim(), password.value, totp.value.trim());
      password.value = "";
      ctx.go(`#/${query.next || "reports"}`);
    } catch (failure) {
      totp.value = "";
      error.textContent = failure.status === 401 ? t("login.failed") : failure.message;
      if (failure.status !== 401) ctx.fail(failure);
      totp.focus();
    } finally {
      submit.disabled = false;
    }
  });
  setTimeout(() => username.focus(), 0);
  return form;
}
