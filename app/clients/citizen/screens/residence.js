// Residence declarations (Law on Residence 2020, docs/residence.md):
//
//   #/residence                  current residence, stays waiting for me as a host, my
//                                declarations with their status
//   #/residence/stay             declare a temporary stay (đăng ký tạm trú)
//   #/residence/absence          declare a temporary absence (khai báo tạm vắng)
//   #/residence/lodging          notify guests lodging at my place (thông báo lưu trú)
//   #/residence/stays/<id>       one stay: its history, withdraw, renew
//   #/residence/absences/<id>    one absence: its history, withdraw
import { el, when } from '../dom.js';
import {
  badge, clearErrors, day, labelled, placePicker, showError, todayInVietnam, withKit,
} from './utilities-kit.js';

const API = '/api/v1/residence';
const TONES = {
  approved: 'ok', acknowledged: 'ok', rejected: 'bad', refused_by_host: 'bad',
  withdrawn: 'neutral', awaiting_host: 'warn', awaiting_check: 'warn', submitted: 'warn',
  declared: 'warn',
};
const statusBadge = (ctx, status) => badge(ctx, status, TONES[status] || 'neutral');

function dateInput(attrs = {}) {
  return el('input', { type: 'date', required: true, ...attrs });
}

function text(attrs = {}) {
  return el('input', { maxlength: '2000', required: true, ...attrs });
}

/** Submit ``form`` to ``send()``; on success ``done(answer)``; errors shown on the form. */
function onSubmit(ctx, form, button, send, done) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    button.disabled = true;
    try {
      done(await send());
    } catch (error) {
      button.disabled = false;
      showError(ctx, form, error);
    }
  });
}

function actions(ctx, ...buttons) {
  return el('div', { class: 'row' }, ...buttons,
    el('a', { href: '#/residence', class: 'button' }, ctx.t('kit_back')));
}

// --- the forms -----------------------------------------------------------------------------

async function renderStayForm(root, ctx) {
  const place = placePicker(ctx, { idPrefix: 'stay-place' });
  const address = text({ autocomplete: 'street-address' });
  const start = dateInput({ value: todayInVietnam(), min: todayInVietnam() });
  const end = dateInput({ min: todayInVietnam(1) });
  const reason = text();
  const host = el('input', { inputmode: 'numeric', pattern: '[0-9]{12}', maxlength: '12',
    required: true, autocomplete: 'off' });
  const own = el('input', { type: 'checkbox', id: 'stay-own' });
  own.addEventListener('change', () => {
    host.value = own.checked ? ctx.account.personal_id : '';
    host.readOnly = own.checked;
  });
  const submit = el('button', { type: 'submit', class: 'primary', id: 'stay-submit' },
    ctx.t('declare'));
  const form = el('form', { class: 'card', novalidate: true }, place.node,
    labelled('stay-address', ctx.t('address'), address),
    el('div', { class: 'row dates' }, labelled('stay-start', ctx.t('start'), start),
      labelled('stay-end', ctx.t('end'), end, ctx.t('stay_end_hint'))),
    labelled('stay-reason', ctx.t('reason'), reason, ctx.t('stay_reason_hint')),
    el('fieldset', {}, el('legend', {}, ctx.t('host')),
      el('label', { class: 'choice', for: 'stay-own' }, own, ctx.t('own')),
      labelled('stay-host', ctx.t('host_id'), host, ctx.t('host_hint'))),
    actions(ctx, submit));
  address.name = 'address';
  start.name = 'start_date';
  end.name = 'end_date';
  reason.name = 'reason';
  host.name = 'host_personal_id';
  root.append(el('h2', {}, ctx.t('stay_title')), el('p', { class: 'muted' }, ctx.t('stay_intro')),
    form);
  await place.ready;
  onSubmit(ctx, form, submit, () => ctx.api.post(`${API}/stays`, {
    commune_code: place.communeSelect.value, address: address.value.trim(),
    start_date: start.value, end_date: end.value, reason: reason.value.trim(),
    host_personal_id: host.value.trim(),
  }), (stay) => {
    ctx.toast(ctx.t('stay_declared'));
    ctx.navigate(`residence/stays/${stay.id}`);
  });
}

async function renderAbsenceForm(root, ctx) {
  const start = dateInput({ value: todayInVietnam(), min: todayInVietnam() });
  const end = dateInput({ min: todayInVietnam(1) });
  const reason = text();
  const destination = text();
  const submit = el('button', { type: 'submit', class: 'primary', id: 'absence-submit' },
    ctx.t('declare'));
  const form = el('form', { class: 'card', novalidate: true },
    el('p', {}, ctx.t('absence_from'), ' ', el('strong', {}, ctx.account.address || '')),
    el('div', { class: 'row dates' }, labelled('absence-start', ctx.t('start'), start),
      labelled('absence-end', ctx.t('end'), end)),
    labelled('absence-reason', ctx.t('reason'), reason),
    labelled('absence-destination', ctx.t('destination'), destination),
    actions(ctx, submit));
  start.name = 'start_date';
  end.name = 'end_date';
  reason.name = 'reason';
  destination.name = 'destination';
  root.append(el('h2', {}, ctx.t('absence_title')),
    el('p', { class: 'muted' }, ctx.t('absence_intro')), form);
  onSubmit(ctx, form, submit, () => ctx.api.post(`${API}/absences`, {
    start_date: start.value, end_date: end.value, reason: reason.value.trim(),
    destination: destination.value.trim(),
  }), (absence) => {
    ctx.toast(ctx.t('absence_declared'));
    ctx.navigate(`residence/absences/${absence.id}`);
  });
}

async function renderLodgingForm(root, ctx) {
  const place = placePicker(ctx, { idPrefix: 'lodging-place', initial: {
    province: ctx.account.province_code, commune: ctx.account.commune_code } });
  const address = text({ value: ctx.account.address || '', autocomplete: 'street-address' });
  address.name = 'address';
  const guests = el('ol', { class: 'list guests' });
  let count = 0;
  function addGuest() {
    if (guests.children.length >= 50) return;
    count += 1;
    const n = count;
    const id = el('input', { inputmode: 'numeric', pattern: '[0-9]{12}', maxlength: '12',
      required: true, autocomplete: 'off', class: 'guest-id' });
    const name = el('input', { maxlength: '100', class: 'guest-name', autocomplete: 'off' });
    const born = el('input', { type: 'date', class: 'guest-dob' });
    const arrival = dateInput({ value: todayInVietnam(), class: 'guest-arrival' });
    const departure = dateInput({ value: todayInVietnam(1), class: 'guest-departure' });
    const remove = el('button', { type: 'button', class: 'remove' }, ctx.t('guest_remove'));
    const item = el('li', { class: 'guest' },
      labelled(`guest-${n}-id`, ctx.t('guest_id'), id),
      labelled(`guest-${n}-name`, ctx.t('guest_name'), name),
      labelled(`guest-${n}-dob`, ctx.t('guest_dob'), born),
      el('div', { class: 'row dates' }, labelled(`guest-${n}-arrival`, ctx.t('arrival'), arrival),
        labelled(`guest-${n}-departure`, ctx.t('departure'), departure)),
      remove);
    remove.addEventListener('click', () => { if (guests.children.length > 1) item.remove(); });
    guests.append(item);
    id.focus();
  }
  const more = el('button', { type: 'button', id: 'lodging-add-guest', onclick: addGuest },
    ctx.t('guest_add'));
  const submit = el('button', { type: 'submit', class: 'primary', id: 'lodging-submit' },
    ctx.t('notify'));
  const form = el('form', { class: 'card', novalidate: true }, place.node,
    labelled('lodging-address', ctx.t('address'), address),
    el('fieldset', { name: 'guests' }, el('legend', {}, ctx.t('guests')), guests, more),
    actions(ctx, submit));
  root.append(el('h2', {}, ctx.t('lodging_title')),
    el('p', { class: 'muted' }, ctx.t('lodging_intro')), form);
  addGuest();
  await place.ready;
  onSubmit(ctx, form, submit, () => ctx.api.post(`${API}/lodging-notices`, {
    commune_code: place.communeSelect.value, address: address.value.trim(),
    guests: [...guests.children].map((item) => ({
      personal_id: item.querySelector('.guest-id').value.trim(),
      full_name: item.querySelector('.guest-name').value.trim() || null,
      date_of_birth: item.querySelector('.guest-dob').value || null,
      arrival: item.querySelector('.guest-arrival').value,
      departure: item.querySelector('.guest-departure').value,
    })),
  }), (notice) => {
    form.replaceChildren(el('div', { class: 'status ok', role: 'status', id: 'lodging-done' },
      ctx.t('lodging_done', { count: notice.guest_count })),
    actions(ctx));
  });
}

// --- one declaration ---------------------------------------------------------------------------

function history(ctx, entries) {
  return el('section', { class: 'card' }, el('h3', {}, ctx.t('history')),
    el('ol', { class: 'timeline', id: 'residence-history' }, entries.map((entry) =>
      el('li', { dataset: { action: entry.action } },
        el('div', { class: 'row' }, el('strong', {}, ctx.t(`act_${entry.action}`)),
          statusBadge(ctx, entry.to_state),
          el('time', { class: 'muted small', datetime: entry.occurred_at },
            when(entry.occurred_at, ctx.lang))),
        entry.by ? el('div', { class: 'muted small' }, entry.by) : null,
        entry.note ? el('p', { class: 'said' }, entry.note) : null))));
}

/** The withdraw button: a second press confirms (no modal dialog to trap the keyboard). */
function withdrawButton(ctx, path, record, after) {
  const button = el('button', { type: 'button', id: 'residence-withdraw' }, ctx.t('withdraw'));
  const problem = el('p', { class: 'field-error', role: 'alert', hidden: true });
  let armed = false;
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      button.textContent = ctx.t('withdraw_confirm');
      button.classList.add('primary');
      return;
    }
    button.disabled = true;
    try {
      await ctx.api.post(`${path}/withdraw`, { version: record.version });
      ctx.toast(ctx.t('withdrawn'));
      after();
    } catch (error) {
      button.disabled = false;
      problem.textContent = ctx.errorText(error);
      problem.hidden = false;
    }
  });
  return el('div', {}, button, problem);
}

async function renderStay(root, ctx, id) {
  const path = `${API}/stays/${encodeURIComponent(id)}`;
  const stay = await ctx.api.get(path);
  const again = () => { root.replaceChildren(); renderStay(root, ctx, id); };
  const facts = el('dl', { class: 'pairs' },
    el('dt', {}, ctx.t('status')), el('dd', { id: 'stay-status' }, statusBadge(ctx, stay.status),
      stay.in_force ? el('span', { class: 'badge ok' }, ctx.t('in_force')) : null),
    el('dt', {}, ctx.t('address')), el('dd', {}, `${stay.address}, ${stay.commune_name || ''}`),
    el('dt', {}, ctx.t('period')), el('dd', {}, `${day(stay.start_date)} – ${day(stay.end_date)}`),
    el('dt', {}, ctx.t('reason')), el('dd', {}, stay.reason),
    el('dt', {}, ctx.t('host')), el('dd', {}, ctx.t(`host_${stay.host_check}`)),
    stay.decide_by ? [el('dt', {}, ctx.t('decide_by')),
      el('dd', {}, when(stay.decide_by, ctx.lang))] : null,
    stay.decision_reason ? [el('dt', {}, ctx.t('decision_reason')),
      el('dd', {}, stay.decision_reason)] : null);
  root.append(el('h2', {}, ctx.t('stay_title')), el('section', { class: 'card' }, facts));
  if (stay.allowed_actions.includes('withdraw')) root.append(withdrawButton(ctx, path, stay, again));
  if (stay.status === 'approved' && stay.in_force) {
    const end = dateInput({ min: stay.end_date });
    end.name = 'end_date';
    const renew = el('button', { type: 'submit', id: 'stay-renew' }, ctx.t('renew'));
    const form = el('form', { class: 'card', novalidate: true },
      labelled('stay-renew-end', ctx.t('renew_until'), end), renew);
    onSubmit(ctx, form, renew, () => ctx.api.post(`${path}/renew`, { end_date: end.value }),
      (next) => ctx.navigate(`residence/stays/${next.id}`));
    root.append(form);
  }
  root.append(history(ctx, stay.history), actions(ctx));
}

async function renderAbsence(root, ctx, id) {
  const path = `${API}/absences/${encodeURIComponent(id)}`;
  const absence = await ctx.api.get(path);
  const again = () => { root.replaceChildren(); renderAbsence(root, ctx, id); };
  root.append(el('h2', {}, ctx.t('absence_title')), el('section', { class: 'card' },
    el('dl', { class: 'pairs' },
      el('dt', {}, ctx.t('status')),
      el('dd', { id: 'absence-status' }, statusBadge(ctx, absence.status)),
      el('dt', {}, ctx.t('period')),
      el('dd', {}, `${day(absence.start_date)} – ${day(absence.end_date)}`),
      el('dt', {}, ctx.t('reason')), el('dd', {}, absence.reason),
      el('dt', {}, ctx.t('destination')), el('dd', {}, absence.destination),
      el('dt', {}, ctx.t('decide_by')), el('dd', {}, when(absence.decide_by, ctx.lang)))));
  if (absence.allowed_actions.includes('withdraw')) {
    root.append(withdrawButton(ctx, path, absence, again));
  }
  root.append(history(ctx, absence.history), actions(ctx));
}

// --- the overview ----------------------------------------------------------------------------

/** A stay waiting for me as its host: confirm or refuse, with the passcode. */
function hostItem(ctx, stay, again) {
  const reason = el('input', { maxlength: '2000', id: `host-${stay.id}-reason` });
  const answer = async (decision) => {
    const passcode = await ctx.confirmPasscode(ctx.t(`host_modal_${decision}`,
      { name: stay.declarant_name }));
    if (passcode === null) return;
    try {
      await ctx.api.post(`${API}/host-confirmations/${stay.id}`,
        { decision, passcode, reason: decision === 'refuse' ? (reason.value.trim() || null) : null });
      ctx.toast(ctx.t(`host_done_${decision}`));
      again();
    } catch (error) {
      ctx.toast(ctx.errorText(error));
    }
  };
  return el('li', { dataset: { stay: String(stay.id) } },
    el('p', {}, el('strong', {}, stay.declarant_name), ' ', ctx.t('host_wants')),
    el('p', {}, `${stay.address}, ${stay.commune_name || stay.commune_code}`),
    el('p', { class: 'muted small' },
      `${day(stay.start_date)} – ${day(stay.end_date)} · ${stay.reason}`),
    el('details', {}, el('summary', {}, ctx.t('host_refuse_reason')),
      labelled(reason.id, ctx.t('reason'), reason)),
    el('div', { class: 'row' },
      el('button', { type: 'button', class: 'primary host-confirm',
        onclick: () => answer('confirm') }, ctx.t('host_confirm')),
      el('button', { type: 'button', class: 'host-refuse', onclick: () => answer('refuse') },
        ctx.t('host_refuse'))));
}

function declarationItem(ctx, kind, item) {
  const label = kind === 'stays'
    ? `${item.address}, ${item.commune_name || item.commune_code}` : item.destination;
  return el('li', { dataset: { id: String(item.id) } },
    el('a', { href: `#/residence/${kind}/${item.id}` }, label), ' ',
    statusBadge(ctx, item.status),
    item.in_force ? el('span', { class: 'badge ok' }, ctx.t('in_force')) : null,
    el('div', { class: 'muted small' }, `${day(item.start_date)} – ${day(item.end_date)}`));
}

async function renderOverview(root, ctx) {
  const again = () => { root.replaceChildren(); renderOverview(root, ctx); };
  const [hosting, stays, absences] = await Promise.all([
    ctx.api.get(`${API}/host-confirmations?per_page=50`),
    ctx.api.get(`${API}/stays?per_page=50`),
    ctx.api.get(`${API}/absences?per_page=50`),
  ]);
  // The record's temporary residence is the approved stay in force (GET /current says the
  // same, but answers 409 when there is none: an error in the console of most citizens).
  const current = stays.items.find((stay) => stay.status === 'approved' && stay.in_force);
  root.append(
    el('section', { class: 'card', id: 'residence-current' }, el('h2', {}, ctx.t('current')),
      current
        ? el('p', {}, `${current.address}, ${current.commune_name || current.commune_code}`,
          el('br'), `${day(current.start_date)} – ${day(current.end_date)}`)
        : el('p', { class: 'muted' }, ctx.t('current_none'))),
    el('nav', { class: 'row actions', 'aria-label': ctx.t('declare') },
      el('a', { href: '#/residence/stay', class: 'button primary', id: 'residence-new-stay' },
        ctx.t('stay_title')),
      el('a', { href: '#/residence/absence', class: 'button', id: 'residence-new-absence' },
        ctx.t('absence_title')),
      el('a', { href: '#/residence/lodging', class: 'button', id: 'residence-new-lodging' },
        ctx.t('lodging_title'))));
  if (hosting.items.length) {
    root.append(el('h2', {}, ctx.t('hosting')), el('ul', { class: 'list', id: 'residence-hosting' },
      hosting.items.map((stay) => hostItem(ctx, stay, again))));
  }
  root.append(el('h2', {}, ctx.t('my_stays')), stays.items.length
    ? el('ul', { class: 'list', id: 'residence-stays' },
      stays.items.map((item) => declarationItem(ctx, 'stays', item)))
    : el('p', { class: 'muted' }, ctx.t('none')));
  root.append(el('h2', {}, ctx.t('my_absences')), absences.items.length
    ? el('ul', { class: 'list', id: 'residence-absences' },
      absences.items.map((item) => declarationItem(ctx, 'absences', item)))
    : el('p', { class: 'muted' }, ctx.t('none')));
}

export default {
  id: 'residence',
  path: 'residence',
  nav: true,
  title: { vi: 'Cư trú', en: 'Residence' },
  strings: withKit({
    vi: {
      st_awaiting_host: 'Chờ chủ hộ xác nhận', st_awaiting_check: 'Chờ công an xác minh chủ hộ',
      st_submitted: 'Chờ công an duyệt', st_approved: 'Đã duyệt', st_rejected: 'Bị từ chối',
      st_refused_by_host: 'Chủ hộ từ chối', st_withdrawn: 'Đã rút', st_declared: 'Đã khai báo',
      st_acknowledged: 'Công an đã tiếp nhận',
      current: 'Nơi tạm trú hiện tại',
      current_none: 'Chưa có nơi tạm trú đang hiệu lực.',
      declare: 'Khai báo',
      stay_title: 'Đăng ký tạm trú',
      stay_intro: 'Khi ở nơi khác nơi thường trú từ 30 ngày trở lên. Chủ hộ xác nhận trong ứng '
        + 'dụng của họ, rồi công an xã, phường duyệt.',
      stay_declared: 'Đã gửi đăng ký tạm trú.',
      stay_end_hint: 'Tối đa 2 năm, có thể gia hạn.',
      stay_reason_hint: 'Ví dụ: đi làm, đi học.',
      absence_title: 'Khai báo tạm vắng',
      absence_intro: 'Khi vắng mặt khỏi nơi thường trú; công an nơi thường trú tiếp nhận.',
      absence_from: 'Nơi thường trú:',
      absence_declared: 'Đã gửi khai báo tạm vắng.',
      lodging_title: 'Thông báo lưu trú',
      lodging_intro: 'Chủ nhà báo công an những người đến ở tại nhà mình.',
      lodging_done: 'Đã thông báo lưu trú cho {count} người.',
      address: 'Địa chỉ',
      start: 'Từ ngày', end: 'Đến ngày', period: 'Thời gian',
      reason: 'Lý do', destination: 'Nơi đến',
      host: 'Chủ hộ, chủ sở hữu chỗ ở',
      own: 'Tôi là chủ sở hữu chỗ ở này',
      host_id: 'Số định danh cá nhân của chủ hộ',
      host_hint: '12 chữ số, như trên thẻ căn cước.',
      host_host: 'Chủ hộ xác nhận', host_self: 'Chỗ ở của tôi',
      guests: 'Người lưu trú', guest_add: 'Thêm người', guest_remove: 'Bỏ người này',
      guest_id: 'Số định danh cá nhân', guest_name: 'Họ và tên (không bắt buộc)',
      guest_dob: 'Ngày sinh (không bắt buộc)', arrival: 'Ngày đến', departure: 'Ngày đi',
      notify: 'Gửi thông báo',
      status: 'Trạng thái', in_force: 'Đang hiệu lực',
      decide_by: 'Công an trả lời trước', decision_reason: 'Lý do',
      withdraw: 'Rút hồ sơ', withdraw_confirm: 'Bấm lần nữa để rút hồ sơ',
      withdrawn: 'Đã rút hồ sơ.',
      renew: 'Gia hạn', renew_until: 'Gia hạn đến ngày',
      history: 'Quá trình xử lý',
      hosting: 'Chờ bạn xác nhận (chủ hộ)',
      host_wants: 'đăng ký tạm trú tại chỗ ở của bạn:',
      host_confirm: 'Xác nhận', host_refuse: 'Từ chối',
      host_refuse_reason: 'Lý do từ chối (nếu từ chối)',
      host_modal_confirm: 'Xác nhận {name} tạm trú tại chỗ ở của bạn.',
      host_modal_refuse: 'Từ chối đăng ký tạm trú của {name}.',
      host_done_confirm: 'Đã xác nhận.', host_done_refuse: 'Đã từ chối.',
      my_stays: 'Đăng ký tạm trú của tôi', my_absences: 'Khai báo tạm vắng của tôi',
      none: 'Chưa có.',
      act_create: 'Khai báo', act_confirm_host: 'Chủ hộ xác nhận',
      act_refuse_host: 'Chủ hộ từ chối', act_check_host: 'Công an xác minh chủ hộ',
      act_approve: 'Công an duyệt', act_reject: 'Công an từ chối', act_withdraw: 'Rút hồ sơ',
      act_acknowledge: 'Công an tiếp nhận', act_renew: 'Gia hạn',
    },
    en: {
      st_awaiting_host: 'Waiting for the host', st_awaiting_check: 'Host checked by the police',
      st_submitted: 'With the police', st_approved: 'Approved', st_rejected: 'Rejected',
      st_refused_by_host: 'Refused by the host', st_withdrawn: 'Withdrawn',
      st_declared: 'Declared', st_acknowledged: 'Acknowledged by the police',
      current: 'Current temporary residence',
      current_none: 'No temporary residence in force.',
      declare: 'Declare',
      stay_title: 'Temporary stay',
      stay_intro: 'When you live 30 days or more away from your permanent residence. The host '
        + 'confirms in their app, then the commune police approve.',
      stay_declared: 'Temporary stay declared.',
      stay_end_hint: 'At most 2 years; renewable.',
      stay_reason_hint: 'For example: work, study.',
      absence_title: 'Temporary absence',
      absence_intro: 'When you are away from your permanent residence; its police acknowledge.',
      absence_from: 'Permanent residence:',
      absence_declared: 'Temporary absence declared.',
      lodging_title: 'Lodging notice',
      lodging_intro: 'A host tells the police who stays at their place.',
      lodging_done: 'Lodging notified for {count} guests.',
      address: 'Address',
      start: 'From', end: 'Until', period: 'Period',
      reason: 'Reason', destination: 'Destination',
      host: 'Host or owner of the place',
      own: 'I own this place',
      host_id: "Host's personal id",
      host_hint: '12 digits, as on the ID card.',
      host_host: 'Confirmed by the host', host_self: 'My own place',
      guests: 'Guests', guest_add: 'Add a guest', guest_remove: 'Remove this guest',
      guest_id: 'Personal id', guest_name: 'Full name (optional)',
      guest_dob: 'Date of birth (optional)', arrival: 'Arrival', departure: 'Departure',
      notify: 'Send the notice',
      status: 'Status', in_force: 'In force',
      decide_by: 'Police answer by', decision_reason: 'Reason',
      withdraw: 'Withdraw', withdraw_confirm: 'Press again to withdraw',
      withdrawn: 'Withdrawn.',
      renew: 'Renew', renew_until: 'Renew until',
      history: 'History',
      hosting: 'Waiting for you (host)',
      host_wants: 'declared a temporary stay at your place:',
      host_confirm: 'Confirm', host_refuse: 'Refuse',
      host_refuse_reason: 'Reason for refusing (if you refuse)',
      host_modal_confirm: 'Confirm that {name} stays at your place.',
      host_modal_refuse: 'Refuse the temporary stay of {name}.',
      host_done_confirm: 'Confirmed.', host_done_refuse: 'Refused.',
      my_stays: 'My temporary stays', my_absences: 'My temporary absences',
      none: 'None yet.',
      act_create: 'Declared', act_confirm_host: 'Host confirmed',
      act_refuse_host: 'Host refused', act_check_host: 'Host checked by the police',
      act_approve: 'Approved by the police', act_reject: 'Rejected by the police',
      act_withdraw: 'Withdrawn', act_acknowledge: 'Acknowledged by the police',
      act_renew: 'Renewed',
    },
  }),
  async render(root, ctx, params = []) {
    const [first, id] = params;
    if (first === 'stay') return renderStayForm(root, ctx);
    if (first === 'absence') return renderAbsenceForm(root, ctx);
    if (first === 'lodging') return renderLodgingForm(root, ctx);
    if (first === 'stays' && id) return renderStay(root, ctx, id);
    if (first === 'absences' && id) return renderAbsence(root, ctx, id);
    return renderOverview(root, ctx);
  },
};
