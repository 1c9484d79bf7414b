// The QR verifier: read a citizen's VN1 QR (camera, picture or pasted text), verify it
// OFFLINE against the cached trust list first, then ONLINE for revocation and one-time use.
import { h, field, facts, replace } from "../dom.js";
import { scanFromCamera, scanFromImageFile } from "/clients/shared/scan.js";
import { loadTrustList } from "/clients/shared/trust.js";
import { verifyVn1 } from "/clients/shared/vn1.js";

/** Reasons a fresher trust list may change: the cached one may predate a new or revoked key. */
const STALE_LIST_REASONS = ["unknown_key", "key_revoked"];

/** Offline, then online: {offline, online, onlineError, trustError, verdict}. */
export async function verifyBoth(ctx, text) {
  let trust = null;
  let trustError = null;
  try {
    trust = await loadTrustList();
  } catch (error) {
    trustError = error;
  }
  let offline = trust ? await verifyVn1(text, trust.document) : null;
  if (offline && !offline.valid && STALE_LIST_REASONS.includes(offline.reason)
      && trust.source === "cache") {
    trust = await loadTrustList({ refresh: true });
    offline = await verifyVn1(text, trust.document);
  }
  let online = null;
  let onlineError = null;
  if (!offline || offline.valid) {
    try {
      online = await ctx.call("POST", "/api/v1/credentials/verify", { body: { qr: text } });
    } catch (error) {
      if (error.status === 401) throw error; // the session ended: the login screen says so
      onlineError = error;
    }
  }
  const verdict = online || offline || { valid: false, reason: null };
  return { offline, online, onlineError, trustError, verdict };
}

function claimValue(ctx, key, value) {
  if (key === "sx") return ctx.t(`gender.${value}`);
  if (typeof value === "boolean") return ctx.t(value ? "common.yes" : "common.no");
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function checkCard(ctx, id, title, result, note) {
  const { t } = ctx;
  let body;
  if (result) {
    body = [h("p", { class: `status ${result.valid ? "ok" : "bad"}` },
      result.valid ? t("verify.ok") : t("verify.invalid"),
      result.reason ? h("span", { class: "mono" }, ` (${result.reason})`) : null),
    result.reason ? h("p", {}, t(`reason.${result.reason}`)) : null];
  } else {
    body = h("p", { class: "status warn" }, note);
  }
  return h("section", { class: "card", id, "data-valid": result ? String(result.valid) : "",
    "data-reason": result && result.reason ? result.reason : "" }, h("h3", {}, title), body);
}

function showResult(ctx, box, outcome) {
  const { t } = ctx;
  const { verdict, offline, online } = outcome;
  const claims = (online && online.claims) || (offline && offline.claims) || null;
  const type = (online && online.type) || (offline && offline.type);
  const expiresAt = online && online.expires_at ? new Date(online.expires_at)
    : offline && offline.expiresAt ? new Date(offline.expiresAt * 1000) : null;
  const expires = expiresAt ? ctx.dateTime(expiresAt.toISOString(), "medium") : null;
  const credentialId = (online && online.credential_id) || (offline && offline.credentialId);
  const onlineNote = outcome.onlineError
    ? `${t("verify.online_unreachable")} (${outcome.onlineError.message})` : t("verify.online_skipped");
  box.dataset.valid = String(verdict.valid);
  box.dataset.reason = verdict.reason || "";
  replace(box,
    h("p", { id: "verify-verdict", class: `verdict status ${verdict.valid
      ? (outcome.onlineError ? "warn" : "ok") : "bad"}` },
    verdict.valid ? t("verify.valid") : t("verify.invalid")),
    verdict.reason ? h("p", { id: "verify-reason", class: "reason", "data-reason": verdict.reason },
      h("span", { class: "mono" }, verdict.reason), " — ", t(`reason.${verdict.reason}`)) : null,
    outcome.trustError ? h("p", { class: "status warn" }, t("verify.trust_unavailable")) : null,
    h("div", { class: "checks" },
      checkCard(ctx, "verify-offline", t("verify.offline"), offline, t("verify.trust_unavailable")),
      checkCard(ctx, "verify-online", t("verify.online"), online, onlineNote)),
    type || credentialId ? h("section", { class: "card" }, h("h2", {}, t("verify.claims")),
      facts([[t("verify.type"), type ? `${t(`type.${type}`)} (${type})` : null],
        [t("verify.expires"), expires], [t("verify.credential"), credentialId],
        ...(claims && verdict.valid ? Object.entries(claims).map(([key, value]) =>
          [t(`claim.${key}`) === `claim.${key}` ? key : t(`claim.${key}`),
            claimValue(ctx, key, value), key]) : [])], { id: "verify-claims" })) : null);
}

export function verifyView(ctx) {
  const { t } = ctx;
  const text = h("textarea", { id: "qr-text", name: "qr", rows: 4, maxlength: 8192,
    spellcheck: "false", autocomplete: "off", class: "mono" });
  const result = h("div", { id: "verify-result", "aria-live": "polite" });
  const video = h("video", { class: "camera", id: "camera", hidden: true, "aria-label": t("verify.camera_video") });
  const picture = h("input", { type: "file", id: "qr-file", accept: "image/*" });
  let scanning = null;
  const stopOnEscape = (event) => {
    if (event.key === "Escape" && scanning) scanning.abort();
  };
  document.addEventListener("keydown", stopOnEscape);
  window.addEventListener("hashchange", () => {
    if (scanning) scanning.abort();
    document.removeEventListener("keydown", stopOnEscape);
  }, { once: true });

  const check = async () => {
    const value = text.value.trim();
    if (!value) {
      text.focus();
      return;
    }
    ctx.clearMessages();
    result.dataset.valid = "";
    replace(result, h("p", { class: "muted" }, t("verify.checking")));
    try {
      showResult(ctx, result, await verifyBoth(ctx, value));
    } catch (error) {
      replace(result);
      ctx.fail(error);
    }
  };

  const cameraButton = h("button", { type: "button", id: "camera-toggle", class: "secondary" },
    t("verify.camera"));
  cameraButton.addEventListener("click", async () => {
    if (scanning) {
      scanning.abort();
      return;
    }
    scanning = new AbortController();
    video.hidden = false;
    cameraButton.textContent = t("verify.camera_stop");
    try {
      text.value = await scanFromCamera(video, { signal: scanning.signal });
      await check();
    } catch (error) {
      if (error.name !== "AbortError") ctx.fail(new Error(t("verify.camera_failed", { message: error.message })));
    } finally {
      scanning = null;
      video.hidden = true;
      cameraButton.textContent = t("verify.camera");
    }
  });
  picture.addEventListener("change", async () => {
    const [file] = picture.files;
    if (!file) return;
    try {
      const found = await scanFromImageFile(file);
      if (!found) throw new Error(t("verify.file_failed"));
      text.value = found;
      await check();
    } catch (error) {
      ctx.fail(error);
    } finally {
      picture.value = "";
    }
  });
  const form = h("form", { id: "verify-form", class: "card" },
    h("div", { class: "row" }, cameraButton), video,
    field(t("verify.file"), picture),
    field(t("verify.text"), text),
    h("button", { type: "submit", class: "primary", id: "verify-submit" }, t("verify.submit")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    check();
  });
  return h("section", { "aria-labelledby": "verify-heading" },
    h("h1", { id: "verify-heading" }, t("verify.heading")),
    h("p", { class: "muted" }, t("verify.intro")),
    h("div", { class: "columns" }, form, result));
}
