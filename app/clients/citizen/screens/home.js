/** Home: level, status, bound device, notifications, and "lock my account" (lost phone). */
import {el, pagedList, when} from '../dom.js';
import {loadDevice} from '../device.js';

function statusBadge(ctx, status) {
  return el('span', {class: `badge ${status}`, id: 'account-status', dataset: {status}},
    ctx.t(`status_${status}`));
}

export default {
  id: 'home',
  path: '',
  nav: true,
  title: {vi: 'Trang chủ', en: 'Home'},
  strings: {
    vi: {
      hello: 'Xin chào, {name}',
      level: 'Mức định danh',
      level_value: 'Mức {level}',
      status: 'Trạng thái',
      device: 'Thiết bị',
      device_this: 'Điện thoại này',
      device_other: 'Thiết bị khác',
      device_none: 'Chưa gắn thiết bị',
      phone: 'Số điện thoại',
      notifications: 'Thông báo',
      lock_title: 'Mất điện thoại?',
      lock_text: 'Khóa tài khoản ngay: mọi phiên đăng nhập và mã QR đã cấp sẽ mất hiệu lực. Mở khóa cần mật khẩu và mã SMS, hoặc đến cơ quan công an.',
      lock: 'Khóa tài khoản của tôi',
      lock_confirm: 'Bạn chắc chắn muốn khóa tài khoản?',
      lock_yes: 'Có, khóa ngay',
      locked_done: 'Tài khoản đã bị khóa.',
      status_title: 'Tài khoản của bạn',
      review_note: 'Ghi chú của công an',
      locked_help: 'Để mở khóa, hãy dùng mật khẩu và mã SMS gửi tới số điện thoại đã đăng ký, hoặc đến cơ quan công an với thẻ căn cước.',
      pending_help: 'Công an nơi bạn cư trú sẽ xét duyệt tài khoản. Bạn sẽ nhận được thông báo.',
      rejected_help: 'Bạn có thể đăng ký lại hoặc đến cơ quan công an với thẻ căn cước.',
      unlock: 'Mở khóa tài khoản',
    },
    en: {
      hello: 'Hello, {name}',
      level: 'Identity level',
      level_value: 'Level {level}',
      status: 'Status',
      device: 'Device',
      device_this: 'This phone',
      device_other: 'Another device',
      device_none: 'No device bound',
      phone: 'Phone',
      notifications: 'Notifications',
      lock_title: 'Lost your phone?',
      lock_text: 'Lock the account now: every session and every QR issued stops working. Unlocking takes the password and an SMS code, or a visit to a police office.',
      lock: 'Lock my account',
      lock_confirm: 'Do you really want to lock the account?',
      lock_yes: 'Yes, lock it now',
      locked_done: 'The account is locked.',
      status_title: 'Your account',
      review_note: 'The officer\'s note',
      locked_help: 'To unlock it, use the password and an SMS code sent to the registered phone, or visit a police office with your ID card.',
      pending_help: 'The police of your place of residence will review the account. You will be notified.',
      rejected_help: 'You may register again, or visit a police office with your ID card.',
      unlock: 'Unlock the account',
    },
  },
  async render(root, ctx) {
    const {t, account} = ctx;
    if (account.status !== 'active') {
      renderStatusOnly(root, ctx);
      return;
    }
    const device = await loadDevice();
    const deviceText = !account.device_id ? t('device_none')
      : (device && device.id === account.device_id ? t('device_this') : t('device_other'));
    root.append(
      el('div', {class: 'card'},
        el('h2', {}, t('hello', {name: account.full_name})),
        el('dl', {class: 'pairs'},
          el('dt', {}, t('status')), el('dd', {}, statusBadge(ctx, account.status)),
          el('dt', {}, t('level')), el('dd', {id: 'account-level'}, t('level_value', {level: account.level})),
          el('dt', {}, t('device')), el('dd', {}, deviceText),
          el('dt', {}, t('phone')), el('dd', {}, account.phone_masked))),
      el('h2', {id: 'notifications-title'}, t('notifications')));
    const notifications = el('div', {'aria-labelledby': 'notifications-title'});
    root.append(notifications);
    await pagedList(notifications, ctx, {path: '/api/v1/me/notifications', perPage: 5,
      item: (n) => [el('p', {class: 'muted'}, when(n.created_at, ctx.lang)), el('p', {}, n.text)]});

    const lockButton = el('button', {type: 'button', class: 'danger', id: 'lock'}, t('lock'));
    const lockCard = el('div', {class: 'card'}, el('h2', {}, t('lock_title')),
      el('p', {}, t('lock_text')), el('div', {class: 'actions'}, lockButton));
    root.append(lockCard);
    lockButton.addEventListener('click', () => {
      const yes = el('button', {type: 'button', class: 'danger', id: 'lock-yes'}, t('lock_yes'));
      const no = el('button', {type: 'button', class: 'secondary'}, ctx.t('cancel'));
      const ask = el('div', {class: 'actions', role: 'group', 'aria-label': t('lock_confirm')},
        el('p', {class: 'error'}, t('lock_confirm')), no, yes);
      lockButton.hidden = true;
      lockCard.append(ask);
      yes.focus();
      no.addEventListener('click', () => { ask.remove(); lockButton.hidden = false; lockButton.focus(); });
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          const status = await ctx.api.post('/api/v1/me/lock');
          ctx.toast(t('locked_done'));
          await ctx.lockedOut(status);
        } catch (error) {
          yes.disabled = false;
          ctx.toast(ctx.errorText(error));
        }
      });
    });
  },
};

function renderStatusOnly(root, ctx) {
  const {t, account} = ctx;
  const help = {locked: 'locked_help', pending_review: 'pending_help', rejected: 'rejected_help'};
  root.append(el('div', {class: 'card', id: 'status-only'},
    el('h2', {}, t('status_title')),
    el('dl', {class: 'pairs'},
      el('dt', {}, t('status')), el('dd', {}, statusBadge(ctx, account.status)),
      el('dt', {}, t('level')), el('dd', {}, t('level_value', {level: account.level})),
      account.review_note ? [el('dt', {}, t('review_note')), el('dd', {}, account.review_note)] : null),
    help[account.status] ? el('p', {}, t(help[account.status])) : null,
    account.status === 'locked'
      ? el('p', {}, el('a', {href: '#/unlock', id: 'unlock-link'}, t('unlock'))) : null));
}
