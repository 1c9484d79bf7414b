// What the utilities' screens (reports, residence, payments) share: the
// place picker fed by the admin-units API, error display from the uniform
// error body, Vietnam's dates and đồng amounts, status badges, and a file
// upload that reports its progress (fetch cannot; XMLHttpRequest can).
import { el } from '../dom.js';
import { ApiError } from '../session.js';

const ZONE = 'Asia/Ho_Chi_Minh';

/** Today in Vietnam as YYYY-MM-DD (the service's days are Vietnam's). */
export function todayInVietnam(offsetDays = 0) {
  const day = new Date(Date.now() + offsetDays * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(day);
}

/** A YYYY-MM-DD date for people (dd/mm/yyyy, as both languages write it here). */
export function day(iso) {
  if (!iso) return '';
  const [y, m, d] = iso.slice(0, 10).split('-');
  return `${d}/${m}/${y}`;
}

/** An amount in đồng. */
export function money(amount, lang) {
  return new Intl.NumberFormat(lang === 'vi' ? 'vi-VN' : 'en-GB',
    { style: 'currency', currency: 'VND', maximumFractionDigits: 0 }).format(amount);
}

/** A status as a coloured badge: the screen's `st_<status>` string, else the raw status. */
export function badge(ctx, status, tone = 'neutral') {
  const key = `st_${status}`;
  const text = ctx.t(key);
  return el('span', { class: `badge ${tone}`, dataset: { status } }, text === key ? status : text);
}

/** A labelled control (select, textarea or input built by the caller). */
export function labelled(id, label, control, hint) {
  control.id = id;
  if (!control.name) control.name = id;
  const help = hint ? el('p', { class: 'muted small', id: `${id}-hint` }, hint) : null;
  if (help) control.setAttribute('aria-describedby', help.id);
  return el('div', { class: 'field' }, el('label', { for: id }, label), control, help);
}

/** A <select> of [value, text] pairs. */
export function select(options, attrs = {}) {
  return el('select', attrs, options.map(([value, text]) => el('option', { value }, text)));
}

/** Clear what showError put on ``form``. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error, .form-error')) node.remove();
  for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
}

/**
 * Show an ApiError on ``form``: the message on top (role=alert), each field's own
 * messages under its control (``errors`` of the uniform body names the fields);
 * focus goes to the first field at fault, else to the message.
 */
export function showError(ctx, form, error) {
  clearErrors(form);
  const box = el('div', { class: 'status bad form-error', role: 'alert', tabindex: '-1' },
    ctx.errorText(error));
  form.prepend(box);
  let first = null;
  for (const [name, messages] of Object.entries((error && error.errors) || {})) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!control) continue;
    const texts = (Array.isArray(messages) ? messages : [messages])
      .map((m) => (typeof m === 'string' ? m : JSON.stringify(m)));
    const note = el('p', { class: 'field-error', id: `${control.id}-error` }, texts.join(' '));
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', note.id);
    control.closest('.field')?.append(note);
    first = first || control;
  }
  (first || box).focus();
}

let provinces = null;
const communes = new Map();

/**
 * Province and commune selects fed by the admin-units API (2025 reform), for a
 * form field named ``name`` (the commune code). ``initial``: a commune code and
 * its province to preselect. Returns {node, provinceSelect, communeSelect}.
 */
export function placePicker(ctx, { name = 'commune_code', idPrefix, initial = {} } = {}) {
  const provinceSelect = el('select', { required: true });
  const communeSelect = el('select', { required: true, name, disabled: true });
  const node = el('div', { class: 'place' },
    labelled(`${idPrefix}-province`, ctx.t('kit_province'), provinceSelect),
    labelled(`${idPrefix}-commune`, ctx.t('kit_commune'), communeSelect));
  communeSelect.name = name;

  async function fillCommunes(code, chosen) {
    communeSelect.replaceChildren(el('option', { value: '' }, ctx.t('kit_choose')));
    communeSelect.disabled = true;
    if (!code) return;
    if (!communes.has(code)) {
      communes.set(code, await ctx.api.get(
        `/api/v1/admin-units/provinces/${encodeURIComponent(code)}/communes`));
    }
    for (const commune of communes.get(code)) {
      communeSelect.append(el('option', { value: commune.code }, commune.name));
    }
    communeSelect.disabled = false;
    if (chosen) communeSelect.value = chosen;
  }

  provinceSelect.addEventListener('change', () => {
    fillCommunes(provinceSelect.value).catch((error) => ctx.toast(ctx.errorText(error)));
  });
  const ready = (async () => {
    provinces = provinces || await ctx.api.get('/api/v1/admin-units/provinces');
    provinceSelect.replaceChildren(el('option', { value: '' }, ctx.t('kit_choose')),
      ...provinces.map((p) => el('option', { value: p.code }, p.name)));
    if (initial.province) {
      provinceSelect.value = initial.province;
      await fillCommunes(initial.province, initial.commune);
    }
  })();
  return { node, provinceSelect, communeSelect, ready };
}

/**
 * POST one file as multipart field ``file`` to ``path`` with the session's token,
 * calling ``onProgress(fraction)`` as it goes (fetch cannot report an upload's
 * progress; XMLHttpRequest can). Resolves to the JSON answer; rejects with an
 * ApiError from the uniform body (a plain Error when no answer came). An expired
 * token is refreshed once by the session (``ctx.api.withToken``).
 */
export function uploadFile(ctx, path, file, { headers = {}, onProgress = () => {} } = {}) {
  return ctx.api.withToken((token) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    for (const [header, value] of Object.entries(headers)) xhr.setRequestHeader(header, value);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body);
        return;
      }
      reject(new ApiError({ status: xhr.status, code: body?.code || `http.${xhr.status}`,
        message: body?.message || xhr.statusText, errors: body?.errors }));
    });
    xhr.addEventListener('error', () => reject(new Error('network')));
    const form = new FormData();
    form.append('file', file, file.name || 'photo.jpg');
    xhr.send(form);
  }));
}

/** Strings of the kit, merged into each utilities screen's own. */
export const KIT_STRINGS = {
  vi: {
    kit_province: 'Tỉnh, thành phố',
    kit_commune: 'Xã, phường, đặc khu',
    kit_choose: '— Chọn —',
    kit_refresh: 'Làm mới',
    kit_back: 'Quay lại',
  },
  en: {
    kit_province: 'Province or city',
    kit_commune: 'Commune, ward or special zone',
    kit_choose: '— Choose —',
    kit_refresh: 'Refresh',
    kit_back: 'Back',
  },
};

/** A screen's strings with the kit's. */
export function withKit(strings) {
  return { vi: { ...KIT_STRINGS.vi, ...strings.vi }, en: { ...KIT_STRINGS.en, ...strings.en } };
}
