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
  const fields = Object.entries((error && error.errors) || {});
  // One field at fault and its code translated: the translation, not the server's English.
  const translated = fields.length === 1 && box.textContent !== error.message
    ? box.textContent : null;
  for (const [name, messages] of fields) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!control) continue;
    const texts = translated ? [translated] : (Array.isArray(messages) ? messages : [messages])
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
    // The uniform error body's codes of the utilities (errorText looks up error_<code>).
    error_request_invalid: 'Vui lòng kiểm tra lại các ô được đánh dấu.',
    error_rate_limited: 'Bạn thao tác quá nhanh. Vui lòng thử lại sau ít phút.',
    error_quota_exhausted: 'Bạn đã dùng hết lượt trong hôm nay. Vui lòng thử lại sau.',
    error_commune_unknown: 'Không có xã, phường này (theo danh mục từ năm 2025).',
    error_text_empty: 'Ô này không được để trống.',
    error_text_too_long: 'Nội dung quá dài.',
    error_text_control_characters: 'Nội dung có ký tự không hợp lệ.',
    error_date_out_of_range: 'Ngày không hợp lệ.',
    error_workflow_transition_not_allowed: 'Hồ sơ đã chuyển sang bước khác; hãy làm mới trang.',
    error_workflow_case_changed: 'Hồ sơ vừa thay đổi; hãy làm mới trang rồi thử lại.',
    error_report_not_found: 'Không tìm thấy vụ việc này.',
    error_report_occurred_in_future: 'Thời gian xảy ra không được ở tương lai.',
    error_report_occurred_too_long_ago: 'Chỉ nhận vụ việc xảy ra trong vòng 20 năm.',
    error_report_location_required: 'Hãy chọn nơi xảy ra, hoặc đánh dấu "Không rõ địa điểm".',
    error_report_address_required: 'Hãy nhập địa chỉ nơi xảy ra.',
    error_indicator_phone_invalid: 'Số điện thoại không hợp lệ.',
    error_indicator_link_invalid: 'Đường dẫn không hợp lệ.',
    error_evidence_type: 'Chỉ nhận ảnh JPEG, PNG, WebP và video MP4, MOV.',
    error_evidence_too_large: 'Tệp quá lớn (tối đa 20 MB).',
    error_evidence_too_many: 'Vụ việc đã có đủ 10 tệp.',
    error_evidence_empty: 'Tệp rỗng.',
    error_evidence_unreadable: 'Không đọc được ảnh này.',
    error_evidence_image_too_large: 'Ảnh có kích thước điểm ảnh quá lớn.',
    error_stay_permanent_commune: 'Tạm trú phải ở xã, phường khác nơi thường trú của bạn.',
    error_period_start_past: 'Ngày bắt đầu không được trước hôm nay.',
    error_period_end_before_start: 'Ngày kết thúc phải sau ngày bắt đầu.',
    error_period_too_long: 'Thời hạn tối đa 2 năm.',
    error_residence_period_overlap: 'Trùng thời gian với một hồ sơ khác đang mở hoặc đã duyệt.',
    error_residence_renewal_open: 'Đã có một hồ sơ gia hạn đang xử lý.',
    error_residence_not_renewable: 'Hồ sơ này không gia hạn được.',
    error_lodging_guest_count: 'Mỗi thông báo có từ 1 đến 50 người.',
    error_lodging_guest_duplicate: 'Một người được nhập hai lần.',
    error_payment_order_paid: 'Khoản này đã được thanh toán.',
    error_payment_attempt_pending: 'Đang có một lần thanh toán chờ ngân hàng xác nhận.',
    error_payment_order_refunded: 'Khoản này đã được hoàn tiền.',
    error_payment_not_paid: 'Khoản này chưa được thanh toán.',
    error_payment_unconfigured: 'Chức năng thanh toán đang tạm ngừng. Vui lòng thử lại sau.',
    error_idempotency_in_progress: 'Lần thanh toán trước đang được xử lý; vui lòng đợi.',
  },
  en: {
    kit_province: 'Province or city',
    kit_commune: 'Commune, ward or special zone',
    kit_choose: '— Choose —',
    kit_refresh: 'Refresh',
    kit_back: 'Back',
    error_request_invalid: 'Please check the fields marked.',
    error_rate_limited: 'Too many tries in a short time. Please try again in a few minutes.',
    error_quota_exhausted: "You have used today's allowance. Please try again later.",
    error_commune_unknown: 'No such commune (the 2025 list).',
    error_text_empty: 'This field may not be empty.',
    error_text_too_long: 'The text is too long.',
    error_text_control_characters: 'The text has characters that are not allowed.',
    error_date_out_of_range: 'The date is not valid.',
    error_workflow_transition_not_allowed: 'The case has moved on; please refresh the page.',
    error_workflow_case_changed: 'The case just changed; refresh the page and try again.',
    error_report_not_found: 'No such case.',
    error_report_occurred_in_future: 'The time it happened may not be in the future.',
    error_report_occurred_too_long_ago: 'Only incidents of the last 20 years are taken.',
    error_report_location_required: 'Choose where it happened, or tick "Place unknown".',
    error_report_address_required: 'Enter the address where it happened.',
    error_indicator_phone_invalid: 'The phone number is not valid.',
    error_indicator_link_invalid: 'The link is not valid.',
    error_evidence_type: 'Only JPEG, PNG, WebP photos and MP4, MOV videos are taken.',
    error_evidence_too_large: 'The file is too large (20 MB at most).',
    error_evidence_too_many: 'The case already has 10 files.',
    error_evidence_empty: 'The file is empty.',
    error_evidence_unreadable: 'This photo cannot be read.',
    error_evidence_image_too_large: 'The photo has too many pixels.',
    error_stay_permanent_commune: 'A temporary stay is in another commune than your permanent '
      + 'residence.',
    error_period_start_past: 'The start may not be before today.',
    error_period_end_before_start: 'The end must come after the start.',
    error_period_too_long: 'Two years at most.',
    error_residence_period_overlap: 'The period overlaps another open or approved declaration.',
    error_residence_renewal_open: 'A renewal is already being processed.',
    error_residence_not_renewable: 'This declaration cannot be renewed.',
    error_lodging_guest_count: 'A notice lists 1 to 50 guests.',
    error_lodging_guest_duplicate: 'A guest is listed twice.',
    error_payment_order_paid: 'This order is already paid.',
    error_payment_attempt_pending: "A payment is waiting for the bank's confirmation.",
    error_payment_order_refunded: 'This order was refunded.',
    error_payment_not_paid: 'This order is not paid yet.',
    error_payment_unconfigured: 'Payments are unavailable for now. Please try again later.',
    error_idempotency_in_progress: 'The previous payment is still being processed; please wait.',
  },
};

/** A screen's strings with the kit's. */
export function withKit(strings) {
  return { vi: { ...KIT_STRINGS.vi, ...strings.vi }, en: { ...KIT_STRINGS.en, ...strings.en } };
}
