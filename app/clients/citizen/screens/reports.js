// Incident reports (tố giác, tin báo): file one with photos, named or
// anonymous; follow my cases, read the timeline, answer the officers.
//
//   #/reports            my cases: named ones from the API, anonymous ones from this phone
//   #/reports/new        the filing form
//   #/reports/<case>     one case: status, timeline, the officers' question, evidence
//
// An anonymous case is reached only with its reporter key (header
// X-Reporter-Key), which the service answers once and never stores: it is
// written to IndexedDB (reports-keys.js) before anything else happens.
import { el, when } from '../dom.js';
import { anonymousCases, keyOf, saveKey } from './reports-keys.js';
import {
  badge, clearErrors, day, labelled, placePicker, select, showError, uploadFile, withKit,
} from './utilities-kit.js';

const API = '/api/v1/reports';
const CATEGORIES = ['crime', 'fraud', 'fire_hazard', 'traffic', 'environment', 'other'];
const OPEN = ['received', 'verifying', 'investigating'];
const TONES = { closed: 'ok', rejected: 'bad' };
//: What the service takes (docs/reports.md, "Evidence"): HEIC is refused, so said here first.
const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
const MAX_BYTES = 20 * 1024 * 1024;
const MAX_FILES = 10;

const casePath = (caseNumber, suffix = '') => `${API}/${encodeURIComponent(caseNumber)}${suffix}`;

async function keyHeaders(ctx, caseNumber) {
  const key = await keyOf(ctx.account.account_id, caseNumber).catch(() => null);
  return key ? { 'X-Reporter-Key': key } : {};
}

function statusBadge(ctx, status) {
  return badge(ctx, status, TONES[status] || (OPEN.includes(status) ? 'warn' : 'neutral'));
}

/** The photo picker: camera or files, checked here, previewed, each with its progress bar. */
function photoPicker(ctx, idPrefix) {
  const chosen = [];
  const list = el('ul', { class: 'thumbs', 'aria-live': 'polite' });
  const problem = el('p', { class: 'field-error', hidden: true, role: 'alert' });
  const camera = el('input', { type: 'file', accept: 'image/*', capture: 'environment',
    id: `${idPrefix}-camera`, class: 'sr-only' });
  const files = el('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp',
    multiple: true, id: `${idPrefix}-files`, class: 'sr-only' });

  function add(fileList) {
    problem.hidden = true;
    for (const file of fileList) {
      let refusal = null;
      if (!PHOTO_TYPES.includes(file.type)) refusal = ctx.t('photo_type', { name: file.name });
      else if (file.size > MAX_BYTES) refusal = ctx.t('photo_size', { name: file.name });
      else if (chosen.length >= MAX_FILES) refusal = ctx.t('photo_count', { max: MAX_FILES });
      if (refusal) {
        problem.textContent = refusal;
        problem.hidden = false;
        continue;
      }
      const url = URL.createObjectURL(file);
      const bar = el('progress', { max: '1', value: '0', 'aria-label': ctx.t('photo_progress',
        { name: file.name }) });
      const remove = el('button', { type: 'button', class: 'remove',
        'aria-label': ctx.t('photo_remove', { name: file.name }) }, '×');
      const item = el('li', {}, el('img', { src: url, alt: file.name }), bar, remove);
      const entry = { file, bar, item, url };
      remove.addEventListener('click', () => {
        chosen.splice(chosen.indexOf(entry), 1);
        URL.revokeObjectURL(url);
        item.remove();
      });
      chosen.push(entry);
      list.append(item);
    }
  }
  for (const input of [camera, files]) {
    input.addEventListener('change', () => { add(input.files); input.value = ''; });
  }
  const node = el('fieldset', { class: 'photos' },
    el('legend', {}, ctx.t('photos')),
    el('p', { class: 'muted small' }, ctx.t('photos_hint')),
    el('div', { class: 'row' },
      camera, el('label', { for: camera.id, class: 'button' }, ctx.t('photo_camera')),
      files, el('label', { for: files.id, class: 'button' }, ctx.t('photo_files'))),
    problem, list);
  // The labels act as buttons: Enter and Space open the picker from the keyboard.
  for (const label of node.querySelectorAll('label.button')) {
    label.tabIndex = 0;
    label.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        document.getElementById(label.htmlFor).click();
      }
    });
  }

  /** Upload every chosen photo to the case, one after another; the errors. */
  async function upload(caseNumber, headers) {
    const failures = [];
    for (const entry of [...chosen]) {
      entry.item.classList.add('sending');
      try {
        await uploadFile(ctx, casePath(caseNumber, '/evidence'), entry.file, {
          headers, onProgress: (fraction) => { entry.bar.value = fraction; } });
        entry.item.classList.replace('sending', 'sent');
        chosen.splice(chosen.indexOf(entry), 1);
      } catch (error) {
        entry.item.classList.replace('sending', 'failed');
        failures.push(`${entry.file.name}: ${ctx.errorText(error)}`);
      }
    }
    return failures;
  }
  return { node, upload, get count() { return chosen.length; } };
}

function localNow() {
  const now = new Date();
  now.setSeconds(0, 0);
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function lines(text) {
  return text.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
}

async function renderNew(root, ctx) {
  const category = select(CATEGORIES.map((c) => [c, ctx.t(`cat_${c}`)]), { required: true });
  const anonymous = el('input', { type: 'checkbox', id: 'report-anonymous', name: 'anonymous' });
  const unknown = el('input', { type: 'checkbox', id: 'report-location-unknown',
    name: 'location_unknown' });
  const place = placePicker(ctx, { idPrefix: 'report-place', initial: {
    province: ctx.account.province_code, commune: ctx.account.commune_code } });
  const address = el('input', { maxlength: '2000', autocomplete: 'street-address' });
  const placeBox = el('div', {}, place.node,
    labelled('report-address', ctx.t('address'), address));
  const occurred = el('input', { type: 'datetime-local', required: true, value: localNow(),
    max: localNow() });
  const description = el('textarea', { rows: '5', required: true, maxlength: '5000' });
  const phones = el('textarea', { rows: '2' });
  const links = el('textarea', { rows: '2' });
  const scam = el('fieldset', { class: 'scam', hidden: true },
    el('legend', {}, ctx.t('scam')),
    labelled('report-scam-phones', ctx.t('scam_phones'), phones, ctx.t('scam_hint')),
    labelled('report-scam-links', ctx.t('scam_links'), links, ctx.t('scam_hint')));
  phones.name = 'scam_phones';
  links.name = 'scam_links';
  const photos = photoPicker(ctx, 'report-photos');
  const submit = el('button', { type: 'submit', class: 'primary', id: 'report-submit' },
    ctx.t('submit'));
  const form = el('form', { class: 'card', novalidate: true },
    labelled('report-category', ctx.t('category'), category),
    el('label', { class: 'choice', for: 'report-anonymous' }, anonymous, ctx.t('anonymous')),
    el('p', { class: 'muted small', id: 'report-anonymous-hint' }, ctx.t('anonymous_hint')),
    el('fieldset', {}, el('legend', {}, ctx.t('where')),
      el('label', { class: 'choice', for: 'report-location-unknown' }, unknown,
        ctx.t('location_unknown')),
      placeBox),
    labelled('report-when', ctx.t('when'), occurred),
    labelled('report-description', ctx.t('description'), description,
      ctx.t('description_hint')),
    scam, photos.node, el('div', { class: 'row' }, submit,
      el('a', { href: '#/reports', class: 'button' }, ctx.t('kit_back'))));
  occurred.name = 'occurred_at';
  anonymous.setAttribute('aria-describedby', 'report-anonymous-hint');
  category.addEventListener('change', () => { scam.hidden = category.value !== 'fraud'; });
  unknown.addEventListener('change', () => { placeBox.hidden = unknown.checked; });
  root.append(el('h2', {}, ctx.t('new_title')), form);
  await place.ready;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      category: category.value, description: description.value.trim(),
      occurred_at: occurred.value ? new Date(occurred.value).toISOString() : '',
      anonymous: anonymous.checked,
    };
    if (category.value === 'fraud') {
      body.scam_phones = lines(phones.value);
      body.scam_links = lines(links.value);
    }
    if (unknown.checked) body.location_unknown = true;
    else Object.assign(body, { commune_code: place.communeSelect.value || null,
      address: address.value.trim() || null });
    submit.disabled = true;
    let filed;
    try {
      filed = await ctx.api.post(API, body);
    } catch (error) {
      submit.disabled = false;
      showError(ctx, form, error);
      return;
    }
    const caseNumber = filed.case_number;
    if (filed.reporter_key) {
      try {
        await saveKey(ctx.account.account_id, caseNumber, filed.reporter_key, filed.category);
      } catch {
        // Storage refused (private mode, full disk): the key is shown once so it is not lost.
        form.replaceChildren(el('div', { class: 'status warn', role: 'alert' },
          ctx.t('key_not_saved', { case: caseNumber })),
        el('p', { class: 'mono' }, filed.reporter_key));
        return;
      }
    }
    const failures = photos.count
      ? await photos.upload(caseNumber, filed.reporter_key
        ? { 'X-Reporter-Key': filed.reporter_key } : {})
      : [];
    if (failures.length) {
      form.replaceChildren(el('div', { class: 'status warn', role: 'alert' },
        ctx.t('filed_photos_failed', { case: caseNumber }), el('ul', {},
          failures.map((text) => el('li', {}, text)))),
      el('a', { class: 'button primary', href: `#/reports/${caseNumber}` }, ctx.t('open_case')));
      return;
    }
    ctx.toast(ctx.t('filed', { case: caseNumber }));
    ctx.navigate(`reports/${caseNumber}`);
  });
}

function caseItem(ctx, { case_number: caseNumber, category, status, anonymous, awaiting }) {
  return el('li', { class: 'case', dataset: { case: caseNumber } },
    el('a', { href: `#/reports/${caseNumber}` },
      el('span', { class: 'mono' }, caseNumber), ' ',
      el('span', {}, ctx.t(`cat_${category}`))),
    ' ', status ? statusBadge(ctx, status) : null,
    anonymous ? el('span', { class: 'badge neutral' }, ctx.t('anonymous_short')) : null,
    awaiting ? el('span', { class: 'badge warn' }, ctx.t('question_waiting')) : null);
}

async function renderList(root, ctx) {
  root.append(
    el('p', {}, el('a', { href: '#/reports/new', class: 'button primary', id: 'report-new' },
      ctx.t('new_title'))));
  const named = await ctx.api.get(`${API}?per_page=50`);
  root.append(el('h2', {}, ctx.t('named_cases')), named.items.length
    ? el('ul', { class: 'list', id: 'reports-named' },
      named.items.map((item) => caseItem(ctx, item)))
    : el('p', { class: 'muted' }, ctx.t('none')));
  // Anonymous cases are polled one by one with their keys (no list holds them on the server).
  const held = await anonymousCases(ctx.account.account_id).catch(() => []);
  const rows = await Promise.all(held.slice(0, 20).map(async (row) => {
    try {
      const report = await ctx.api.get(casePath(row.case_number),
        { headers: { 'X-Reporter-Key': row.reporter_key } });
      return { ...report, awaiting: report.awaiting_answer };
    } catch {
      return { case_number: row.case_number, category: row.category, anonymous: true };
    }
  }));
  root.append(el('h2', {}, ctx.t('anonymous_cases')),
    el('p', { class: 'muted small' }, ctx.t('anonymous_cases_hint')), rows.length
      ? el('ul', { class: 'list', id: 'reports-anonymous' },
        rows.map((item) => caseItem(ctx, { ...item, anonymous: true })))
      : el('p', { class: 'muted' }, ctx.t('none')));
}

async function placeName(ctx, report) {
  if (!report.location_known) return ctx.t('location_unknown');
  try {
    const communes = await ctx.api.get(
      `/api/v1/admin-units/provinces/${encodeURIComponent(report.province_code)}/communes`);
    const commune = communes.find((c) => c.code === report.commune_code);
    return [report.address, commune ? commune.name : report.commune_code].filter(Boolean)
      .join(', ');
  } catch {
    return [report.address, report.commune_code].filter(Boolean).join(', ');
  }
}

function timeline(ctx, report) {
  return el('ol', { class: 'timeline', id: 'report-timeline' }, report.timeline.map((event) =>
    el('li', { dataset: { action: event.action } },
      el('div', { class: 'row' }, el('strong', {}, ctx.t(`act_${event.action}`)),
        event.from_status !== event.status ? statusBadge(ctx, event.status) : null,
        el('time', { class: 'muted small', datetime: event.at }, when(event.at, ctx.lang))),
      el('div', { class: 'muted small' }, event.by || ctx.t('by_you')),
      event.text ? el('p', { class: 'said' }, event.text) : null)));
}

async function renderCase(root, ctx, caseNumber) {
  const headers = await keyHeaders(ctx, caseNumber);
  let report;
  try {
    report = await ctx.api.get(casePath(caseNumber), { headers });
  } catch (error) {
    root.append(el('h2', {}, ctx.t('case_title')),
      el('div', { class: 'status bad', role: 'alert' }, ctx.errorText(error)),
      el('a', { href: '#/reports', class: 'button' }, ctx.t('kit_back')));
    return;
  }
  const open = OPEN.includes(report.status);
  const refresh = () => {
    root.replaceChildren();
    return renderCase(root, ctx, caseNumber).catch((error) => ctx.toast(ctx.errorText(error)));
  };
  root.append(
    el('h2', {}, ctx.t('case_title'), ' ', el('span', { class: 'mono' }, report.case_number)),
    el('p', { class: 'row' }, el('span', { id: 'report-status' },
      statusBadge(ctx, report.status)),
    report.anonymous ? el('span', { class: 'badge neutral' }, ctx.t('anonymous_short')) : null,
    el('button', { type: 'button', id: 'report-refresh', onclick: refresh },
      ctx.t('kit_refresh'))));
  if (report.resolution) {
    root.append(el('div', { class: `status ${report.status === 'closed' ? 'ok' : 'bad'}`,
      id: 'report-resolution' }, el('strong', {}, ctx.t(`resolution_${report.status}`)), ' ',
    report.resolution));
  }
  root.append(el('section', { class: 'card' }, el('dl', { class: 'pairs' },
    el('dt', {}, ctx.t('category')), el('dd', {}, ctx.t(`cat_${report.category}`)),
    el('dt', {}, ctx.t('where')), el('dd', {}, await placeName(ctx, report)),
    el('dt', {}, ctx.t('when')), el('dd', {}, when(report.occurred_at, ctx.lang)),
    el('dt', {}, ctx.t('filed_at')), el('dd', {}, day(report.created_at)),
    el('dt', {}, ctx.t('description')), el('dd', {}, report.description),
    report.indicators.length ? [el('dt', {}, ctx.t('scam')), el('dd', {},
      report.indicators.map((i) => i.value).join(', '))] : null)));

  if (open) {
    const question = [...report.timeline].reverse().find((e) => e.action === 'ask');
    const text = el('textarea', { rows: '3', required: true, maxlength: '2000' });
    const send = el('button', { type: 'submit', class: 'primary', id: 'report-answer-submit' },
      ctx.t('send'));
    const form = el('form', { class: 'card', id: 'report-answer-form', novalidate: true },
      report.awaiting_answer ? el('div', { class: 'status warn', id: 'report-question' },
        el('strong', {}, ctx.t('question_waiting')), ' ', question ? question.text : '') : null,
      labelled('report-answer', ctx.t(report.awaiting_answer ? 'answer' : 'message'), text),
      send);
    text.name = 'text';
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        await ctx.api.post(casePath(caseNumber, '/messages'), { text: text.value.trim() },
          { headers });
        ctx.toast(ctx.t('sent'));
        refresh();
      } catch (error) {
        send.disabled = false;
        showError(ctx, form, error);
      }
    });
    root.append(form);
    if (report.awaiting_answer) text.focus();
  }

  const evidence = el('section', { class: 'card', id: 'report-evidence' },
    el('h2', {}, ctx.t('evidence'), ` (${report.evidence.length})`),
    el('ul', {}, report.evidence.map((e) => el('li', {},
      `${e.content_type}, ${Math.ceil(e.size / 1024)} KB, ${when(e.received_at, ctx.lang)}`,
      e.metadata_removed ? el('span', { class: 'muted small' }, ` (${ctx.t('metadata_removed')})`)
        : null))));
  if (open && report.evidence.length < MAX_FILES) {
    const photos = photoPicker(ctx, 'report-more');
    const add = el('button', { type: 'submit', id: 'report-evidence-submit' },
      ctx.t('photo_send'));
    const form = el('form', { novalidate: true }, photos.node, add);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!photos.count) return;
      add.disabled = true;
      const failures = await photos.upload(caseNumber, headers);
      add.disabled = false;
      if (failures.length) {
        form.prepend(el('div', { class: 'status bad form-error', role: 'alert' },
          failures.join(' ')));
      } else refresh();
    });
    evidence.append(form);
  }
  root.append(evidence,
    el('section', { class: 'card' }, el('h2', {}, ctx.t('timeline')), timeline(ctx, report)),
    el('a', { href: '#/reports', class: 'button' }, ctx.t('kit_back')));
}

const ST = {
  vi: { st_received: 'Đã tiếp nhận', st_verifying: 'Đang xác minh',
    st_investigating: 'Đang điều tra', st_closed: 'Đã kết thúc', st_rejected: 'Không thụ lý' },
  en: { st_received: 'Received', st_verifying: 'Being verified',
    st_investigating: 'Under investigation', st_closed: 'Closed', st_rejected: 'Rejected' },
};

export default {
  id: 'reports',
  path: 'reports',
  nav: true,
  title: { vi: 'Phản ánh', en: 'Reports' },
  strings: withKit({
    vi: {
      ...ST.vi,
      new_title: 'Gửi phản ánh mới',
      named_cases: 'Phản ánh của tôi',
      anonymous_cases: 'Phản ánh ẩn danh trên điện thoại này',
      anonymous_cases_hint: 'Chỉ điện thoại này giữ khóa để theo dõi các phản ánh ẩn danh.',
      none: 'Chưa có phản ánh nào.',
      category: 'Loại vụ việc',
      cat_crime: 'Tội phạm', cat_fraud: 'Lừa đảo', cat_fire_hazard: 'Nguy cơ cháy nổ',
      cat_traffic: 'Giao thông', cat_environment: 'Môi trường', cat_other: 'Khác',
      anonymous: 'Gửi ẩn danh',
      anonymous_short: 'Ẩn danh',
      anonymous_hint: 'Công an sẽ không biết ai gửi. Khóa theo dõi vụ việc chỉ lưu trên điện '
        + 'thoại này: mất điện thoại là mất cách theo dõi.',
      where: 'Nơi xảy ra',
      location_unknown: 'Không rõ địa điểm (lừa đảo qua điện thoại, mạng)',
      address: 'Địa chỉ (số nhà, đường, thôn, tổ)',
      when: 'Thời gian xảy ra',
      description: 'Nội dung',
      description_hint: 'Mô tả điều đã xảy ra, ai liên quan, bạn đã thấy gì.',
      scam: 'Số điện thoại, đường dẫn lừa đảo',
      scam_phones: 'Số điện thoại',
      scam_links: 'Đường dẫn (website, trang mạng xã hội)',
      scam_hint: 'Mỗi dòng một mục.',
      photos: 'Ảnh',
      photos_hint: 'Tối đa 10 ảnh JPEG, PNG hoặc WebP, mỗi ảnh tối đa 20 MB. Thông tin vị trí '
        + 'và thiết bị trong ảnh được xóa khi lưu.',
      photo_camera: 'Chụp ảnh',
      photo_files: 'Chọn ảnh có sẵn',
      photo_type: '{name}: chỉ nhận ảnh JPEG, PNG hoặc WebP (ảnh HEIC: hãy chọn định dạng JPEG '
        + 'trong cài đặt máy ảnh).',
      photo_size: '{name}: ảnh lớn hơn 20 MB.',
      photo_count: 'Tối đa {max} ảnh cho một vụ việc.',
      photo_progress: 'Tải lên {name}',
      photo_remove: 'Bỏ ảnh {name}',
      photo_send: 'Gửi thêm ảnh',
      submit: 'Gửi phản ánh',
      filed: 'Đã gửi phản ánh {case}.',
      filed_photos_failed: 'Đã gửi phản ánh {case}, nhưng có ảnh chưa tải lên được:',
      key_not_saved: 'Đã gửi phản ánh ẩn danh {case}, nhưng điện thoại không lưu được khóa '
        + 'theo dõi. Hãy chép lại khóa dưới đây; không ai khác giữ nó.',
      open_case: 'Xem phản ánh',
      case_title: 'Vụ việc',
      filed_at: 'Ngày gửi',
      resolution_closed: 'Kết quả:',
      resolution_rejected: 'Lý do không thụ lý:',
      question_waiting: 'Công an hỏi:',
      answer: 'Trả lời của bạn',
      message: 'Gửi thêm thông tin cho công an',
      send: 'Gửi',
      sent: 'Đã gửi.',
      evidence: 'Ảnh, video đã gửi',
      metadata_removed: 'đã xóa thông tin vị trí, thiết bị',
      timeline: 'Diễn biến',
      by_you: 'Bạn',
      act_create: 'Gửi phản ánh', act_ask: 'Công an đặt câu hỏi', act_answer: 'Bạn trả lời',
      act_verify: 'Bắt đầu xác minh', act_investigate: 'Bắt đầu điều tra',
      act_close: 'Kết thúc vụ việc', act_reject: 'Không thụ lý', act_assign: 'Phân công cán bộ',
      act_transfer: 'Chuyển đơn vị khác', act_add_evidence: 'Thêm ảnh, video',
    },
    en: {
      ...ST.en,
      new_title: 'File a new report',
      named_cases: 'My reports',
      anonymous_cases: 'Anonymous reports on this phone',
      anonymous_cases_hint: 'Only this phone holds the keys that follow your anonymous reports.',
      none: 'No reports yet.',
      category: 'Kind of incident',
      cat_crime: 'Crime', cat_fraud: 'Fraud or scam', cat_fire_hazard: 'Fire hazard',
      cat_traffic: 'Traffic', cat_environment: 'Environment', cat_other: 'Other',
      anonymous: 'File anonymously',
      anonymous_short: 'Anonymous',
      anonymous_hint: 'The police will not know who filed it. The key that follows the case is '
        + 'kept on this phone only: lose the phone and you lose the way back to the case.',
      where: 'Where it happened',
      location_unknown: 'Place unknown (a phone or online scam)',
      address: 'Address (number, street, hamlet)',
      when: 'When it happened',
      description: 'What happened',
      description_hint: 'Say what happened, who was involved, what you saw.',
      scam: 'Scam phone numbers and links',
      scam_phones: 'Phone numbers',
      scam_links: 'Links (websites, social media pages)',
      scam_hint: 'One per line.',
      photos: 'Photos',
      photos_hint: 'Up to 10 JPEG, PNG or WebP photos, 20 MB each. Location and device details '
        + 'are removed when they are stored.',
      photo_camera: 'Take a photo',
      photo_files: 'Choose photos',
      photo_type: '{name}: only JPEG, PNG or WebP photos (HEIC: choose JPEG in the camera '
        + 'settings).',
      photo_size: '{name}: the photo is over 20 MB.',
      photo_count: 'At most {max} photos per case.',
      photo_progress: 'Uploading {name}',
      photo_remove: 'Remove photo {name}',
      photo_send: 'Send more photos',
      submit: 'Send the report',
      filed: 'Report {case} sent.',
      filed_photos_failed: 'Report {case} sent, but some photos were not uploaded:',
      key_not_saved: 'Anonymous report {case} sent, but this phone could not save its key. '
        + 'Copy the key below; nobody else holds it.',
      open_case: 'Open the report',
      case_title: 'Case',
      filed_at: 'Filed on',
      resolution_closed: 'Outcome:',
      resolution_rejected: 'Reason for rejection:',
      question_waiting: 'The police ask:',
      answer: 'Your answer',
      message: 'Send more information to the police',
      send: 'Send',
      sent: 'Sent.',
      evidence: 'Photos and videos sent',
      metadata_removed: 'location and device details removed',
      timeline: 'Timeline',
      by_you: 'You',
      act_create: 'Report filed', act_ask: 'The police asked', act_answer: 'You answered',
      act_verify: 'Verification started', act_investigate: 'Investigation started',
      act_close: 'Case closed', act_reject: 'Rejected', act_assign: 'Officer assigned',
      act_transfer: 'Transferred to another unit', act_add_evidence: 'Photos or videos added',
    },
  }),
  async render(root, ctx, params = []) {
    const [first] = params;
    if (!first) return renderList(root, ctx);
    if (first === 'new') return renderNew(root, ctx);
    return renderCase(root, ctx, decodeURIComponent(first));
  },
};
