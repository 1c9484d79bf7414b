// The verifier page (/verify/): a bank or hotel clerk pastes, scans or photographs a
// VN1 code and sees whether it is valid, with no login and no network once loaded.
// The credential never leaves the device: verification is ../shared/vn1.js, against
// the trust list cached by ../shared/trust.js.
import { createI18n } from '/clients/shared/i18n.js';
import { scanFromCamera, scanFromImageFile } from '/clients/shared/scan.js';
import { loadTrustList, trustAge } from '/clients/shared/trust.js';
import { MAX_LEEWAY, hex, verifyVn1 } from '/clients/shared/vn1.js';
import { STRINGS } from '/verify/strings.js';

const i18n = createI18n(STRINGS, { storageKey: 'vnid.verify.lang' });
const t = (key, vars) => i18n.t(key, vars);
const $ = (id) => document.getElementById(id);
const STALE_AFTER = 86400;  // seconds: a list older than a day gets a warning
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

const state = { trust: null, trustError: null, text: '', result: null, scanning: null };

/** An element with attributes and children (strings become text nodes: nothing is parsed). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function locale() {
  return i18n.lang === 'vi' ? 'vi-VN' : 'en-GB';
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t('unit.s', { n: s });
  if (s < 600 && s % 60) return t('unit.min_s', { m: Math.floor(s / 60), s: s % 60 });
  if (s < 3600) return t('unit.min', { n: Math.floor(s / 60) });
  if (s < 86400) return t('unit.h', { n: Math.floor(s / 3600) });
  return t('unit.d', { n: Math.floor(s / 86400) });
}

function dateTime(seconds) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'medium' })
    .format(new Date(seconds * 1000));
}

// --- The trust list ----------------------------------------------------------------------------

function renderTrust() {
  const status = $('trust-status');
  const warning = $('trust-warning');
  warning.hidden = true;
  if (!state.trust) {
    status.textContent = state.trustError ? t('trust.missing') : t('trust.loading');
    return;
  }
  const keys = Array.isArray(state.trust.document.keys) ? state.trust.document.keys : [];
  const age = trustAge(state.trust);
  status.textContent = t('trust.status', { age: duration(age), count: keys.length,
    active: keys.filter((key) => key && key.status === 'active').length });
  if (age > STALE_AFTER) {
    warning.textContent = t('trust.stale');
    warning.hidden = false;
  } else if (state.trust.error) {
    warning.textContent = t('trust.offline');
    warning.hidden = false;
  }
}

async function refreshTrust({ refresh = false } = {}) {
  try {
    state.trust = await loadTrustList({ refresh });
    state.trustError = null;
  } catch (error) {
    state.trustError = error;
  }
  renderTrust();
  document.body.dataset.trust = state.trust ? 'ready' : 'missing';
  return state.trust;
}

// --- Verifying ---------------------------------------------------------------------------------

/** The pasted text without the line breaks a paste adds (spaces belong to Base45: kept). */
function cleaned(text) {
  return text.replace(/^[\r\n\t]+|[\r\n\t]+$/g, '');
}

async function verify(text) {
  state.text = text;
  const result = $('result');
  result.replaceChildren(h('p', { class: 'muted' }, t('result.checking')));
  if (!state.trust) await refreshTrust();
  if (!state.trust) {
    state.result = null;
    result.replaceChildren(h('p', { class: 'status bad', role: 'alert' }, t('trust.missing')));
    return;
  }
  const options = { audience: $('audience').value.trim() || null,
    nonce: $('nonce').value.trim() || null };
  let answer = await verifyVn1(text, state.trust.document, options);
  if (!answer.valid && answer.reason === 'unknown_key' && navigator.onLine
      && trustAge(state.trust) > 10) {
    // A key newer than the saved list: fetch the list once more before saying no.
    const fresh = await refreshTrust({ refresh: true });
    if (fresh && fresh.source === 'network') {
      answer = await verifyVn1(text, fresh.document, options);
    }
  }
  state.result = answer;
  renderResult();
  $('result-heading').scrollIntoView({ block: 'start', behavior: 'instant' });
}

function claimValue(key, value, claims) {
  if (value === null || value === undefined || value === '') return t('value.none');
  if (typeof value === 'boolean') return t(value ? 'value.yes' : 'value.no');
  if (key === 'sx' && (value === 'M' || value === 'F')) return t(`value.${value}`);
  if (key === 'lvl' && typeof value === 'number') return t('value.level', { level: value });
  if (key === 'k' && (value === 'fee' || value === 'fine')) return t(`value.${value}`);
  if (key === 'amt' && typeof value === 'number') {
    const currency = typeof claims.cur === 'string' ? claims.cur : 'VND';
    try {
      return new Intl.NumberFormat(locale(), { style: 'currency', currency }).format(value);
    } catch (ignored) {
      return `${value} ${currency}`;
    }
  }
  if (typeof value === 'string' && DATE.test(value)) {
    const moment = new Date(`${value}T00:00:00Z`);
    if (!Number.isNaN(moment.getTime())) {
      const shown = new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: 'UTC' })
        .format(moment);
      return `${shown} (${value})`;
    }
  }
  if (typeof value === 'string' && DATETIME.test(value) && !Number.isNaN(Date.parse(value))) {
    return dateTime(Date.parse(value) / 1000);
  }
  if (value instanceof Uint8Array) return hex(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function pairs(entries, className) {
  const list = h('dl', { class: `pairs ${className}` });
  for (const [label, value, attrs = {}] of entries) {
    list.append(h('dt', {}, label), h('dd', attrs, value));
  }
  return list;
}

function expiryText(expiresAt) {
  const left = expiresAt - Date.now() / 1000;
  const relative = left > 0 ? t('result.expires.in', { time: duration(left) })
    : t('result.expired.now');
  return `${dateTime(expiresAt)} (${relative})`;
}

function renderResult() {
  const result = $('result');
  const answer = state.result;
  if (!answer) {
    result.replaceChildren(h('p', { class: 'muted' }, t('result.empty')));
    return;
  }
  const verdict = h('div', { class: `verdict status ${answer.valid ? 'ok' : 'bad'}`,
    id: 'verdict', 'data-valid': String(answer.valid), 'data-reason': answer.reason || '' });
  if (answer.valid) {
    verdict.append(h('strong', {}, t('result.valid')), h('span', {}, t('result.valid.detail')));
    const claims = answer.claims || {};
    const typeLabel = STRINGS[i18n.lang][`type.${answer.type}`];
    const rows = Object.entries(claims).map(([key, value]) => [
      STRINGS[i18n.lang][`claim.${key}`] || key, claimValue(key, value, claims),
      { 'data-claim': key }]);
    result.replaceChildren(
      verdict,
      pairs([[t('result.type'), typeLabel ? `${typeLabel} · ${answer.type}` : answer.type,
        { id: 'credential-type' }]], 'type'),
      h('h3', {}, t('result.claims')),
      pairs(rows, 'claims'),
      pairs([
        [t('result.expires'), expiryText(answer.expiresAt), { id: 'expires' }],
        [t('result.issued'), dateTime(answer.issuedAt)],
        ...(answer.audience ? [[t('result.audience'), answer.audience]] : []),
        [t('result.kid'), answer.kid, { class: 'mono', id: 'kid' }],
        [t('result.cti'), answer.credentialId, { class: 'mono' }],
      ], 'meta'),
      h('p', { class: 'muted small' }, t('result.offline.note')));
  } else {
    verdict.append(h('strong', {}, t('result.invalid')),
      h('span', {}, t(`reason.${answer.reason}`)));
    result.replaceChildren(verdict, pairs([[t('result.reason'), answer.reason,
      { class: 'code mono', id: 'reason' }]], 'meta'));
  }
}

/** Every second: the countdown, and a verdict that turns to expired when the leeway ends. */
function tick() {
  const answer = state.result;
  if (!answer || !answer.valid) return;
  const now = Date.now() / 1000;
  if (now >= answer.expiresAt + MAX_LEEWAY) {
    verify(state.text);
    return;
  }
  const expires = $('expires');
  if (expires) expires.textContent = expiryText(answer.expiresAt);
}

// --- Scanning ----------------------------------------------------------------------------------

function scanMessage(text) {
  const message = $('scan-message');
  message.textContent = text || '';
  message.hidden = !text;
}

async function useScanned(text) {
  $('vn1-text').value = text;
  await verify(cleaned(text));
}

function stopScan() {
  if (state.scanning) state.scanning.abort();
}

async function startScan() {
  if (state.scanning) return;
  scanMessage('');
  const controller = new AbortController();
  state.scanning = controller;
  $('scanner').hidden = false;
  $('scan-stop').focus();
  try {
    const text = await scanFromCamera($('camera'), { signal: controller.signal });
    await useScanned(text);
  } catch (error) {
    if (error.name !== 'AbortError') {
      scanMessage(t('scan.failed', { error: error.message || error.name }));
    }
  } finally {
    state.scanning = null;
    $('scanner').hidden = true;
    $('scan').focus();
  }
}

async function readPhoto(event) {
  const [file] = event.target.files;
  event.target.value = '';
  if (!file) return;
  scanMessage('');
  try {
    const text = await scanFromImageFile(file);
    if (text) await useScanned(text);
    else scanMessage(t('scan.none'));
  } catch (error) {
    scanMessage(t('scan.none'));
  }
}

// --- The page ----------------------------------------------------------------------------------

function showNetwork() {
  const net = $('net');
  net.classList.toggle('offline', !navigator.onLine);
  net.dataset.i18n = navigator.onLine ? 'net.online' : 'net.offline';
  net.textContent = t(net.dataset.i18n);
}

function wire() {
  const form = $('verify-form');
  const text = $('vn1-text');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await verify(cleaned(text.value));
    text.select();
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $('clear').addEventListener('click', () => {
    text.value = '';
    state.result = null;
    state.text = '';
    scanMessage('');
    renderResult();
    text.focus();
  });
  $('scan').addEventListener('click', startScan);
  $('scan-stop').addEventListener('click', stopScan);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') stopScan();
  });
  $('photo').addEventListener('change', readPhoto);
  $('trust-refresh').addEventListener('click', async () => {
    const list = await refreshTrust({ refresh: true });
    if (list && list.source === 'network') $('trust-status').textContent += ` ${t('trust.refreshed')}`;
  });
  $('lang').addEventListener('click', () => i18n.setLang(i18n.lang === 'vi' ? 'en' : 'vi'));
  document.addEventListener('langchange', () => {
    $('lang').setAttribute('lang', i18n.lang === 'vi' ? 'en' : 'vi');
    document.title = t('app.title');
    showNetwork();
    renderTrust();
    renderResult();
  });
  window.addEventListener('online', () => { showNetwork(); refreshTrust(); });
  window.addEventListener('offline', showNetwork);
  setInterval(tick, 1000);
  setInterval(renderTrust, 30000);
}

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/verify/sw.js', { scope: '/verify/' });
  } catch (error) {
    // No worker (a private window, plain http on a LAN address): the page works online.
  }
}

function main() {
  i18n.apply(document);
  document.title = t('app.title');
  $('lang').setAttribute('lang', i18n.lang === 'vi' ? 'en' : 'vi');
  wire();
  showNetwork();
  registerWorker();
  refreshTrust();
}

main();
