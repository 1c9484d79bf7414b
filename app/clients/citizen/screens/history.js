/** Access history: who read what of my data, when and why, newest first, paged. */
import {el, pagedList, when} from '../dom.js';

/** Actions with a name for people; any other is shown as its code. */
const ACTIONS = {
  vi: {
    'auth.login': 'Đăng nhập', 'auth.login_failed': 'Đăng nhập thất bại',
    'auth.login_refused': 'Đăng nhập bị từ chối', 'auth.logout': 'Đăng xuất',
    'account.registration_started': 'Bắt đầu đăng ký', 'account.registered': 'Tạo tài khoản',
    'account.locked': 'Khóa tài khoản', 'account.unlocked': 'Mở khóa tài khoản',
    'device.rebound': 'Đổi thiết bị', 'passcode.wrong': 'Nhập sai mã PIN',
    'passcode.changed': 'Đổi mã PIN', 'credential.issued': 'Cấp mã QR',
    'credential.verified': 'Kiểm tra mã QR', 'credential.revoked': 'Thu hồi mã QR',
    'citizen.read': 'Tra cứu thông tin công dân', 'rp.identity_match': 'Đối chiếu thông tin',
    'rp.sim_ownership': 'Kiểm tra chủ thuê bao', 'rp.consent_requested': 'Yêu cầu chia sẻ dữ liệu',
    'consent.decided': 'Quyết định chia sẻ dữ liệu', 'rp.data_shared': 'Nhận dữ liệu đã đồng ý',
    'rp.erasure_requested': 'Yêu cầu xóa dữ liệu', 'rp.erasure_acknowledged': 'Xác nhận xóa dữ liệu',
    'residence.stay_read': 'Xem thông tin tạm trú', 'residence.lodging_read': 'Xem thông báo lưu trú',
    'consent.approved': 'Đồng ý chia sẻ dữ liệu', 'consent.refused': 'Từ chối chia sẻ dữ liệu',
    'demo.citizen_handed_out': 'Cấp dữ liệu mẫu (thử nghiệm)',
  },
  en: {
    'auth.login': 'Login', 'auth.login_failed': 'Failed login', 'auth.login_refused': 'Login refused',
    'auth.logout': 'Logout', 'account.registration_started': 'Registration started',
    'account.registered': 'Account created', 'account.locked': 'Account locked',
    'account.unlocked': 'Account unlocked', 'device.rebound': 'Device changed',
    'passcode.wrong': 'Wrong passcode', 'passcode.changed': 'Passcode changed',
    'credential.issued': 'QR code issued', 'credential.verified': 'QR code checked',
    'credential.revoked': 'QR code revoked', 'citizen.read': 'Citizen record looked up',
    'rp.identity_match': 'Identity details matched', 'rp.sim_ownership': 'SIM ownership checked',
    'rp.consent_requested': 'Data requested', 'consent.decided': 'Data request decided',
    'rp.data_shared': 'Consented data received', 'rp.erasure_requested': 'Erasure requested',
    'rp.erasure_acknowledged': 'Erasure acknowledged', 'residence.stay_read': 'Stay read',
    'residence.lodging_read': 'Lodging notice read', 'demo.citizen_handed_out': 'Demo data handed out',
    'consent.approved': 'Data request approved', 'consent.refused': 'Data request refused',
  },
};

export default {
  id: 'history',
  path: 'history',
  nav: true,
  title: {vi: 'Lịch sử truy cập', en: 'Access history'},
  strings: {
    vi: {
      intro: 'Mọi lần đăng nhập và mọi lần cơ quan, tổ chức đọc dữ liệu của bạn, mới nhất trước.',
      by: 'Bởi',
      why: 'Lý do',
      what: 'Nội dung',
      you: 'Bạn',
      actor_anonymous: 'Chưa đăng nhập',
      actor_officer: 'Cán bộ công an', actor_relying_party: 'Tổ chức', actor_system: 'Hệ thống',
    },
    en: {
      intro: 'Every login, and every read of your data by an office or a company, newest first.',
      by: 'By',
      why: 'Why',
      what: 'What',
      you: 'You',
      actor_anonymous: 'Not logged in',
      actor_officer: 'Police officer', actor_relying_party: 'Organisation', actor_system: 'The system',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    root.append(el('p', {class: 'muted'}, t('intro')));
    const who = (entry) => {
      if (entry.by) return entry.by;
      if (entry.actor_type === 'citizen') return t('you');
      const key = `actor_${entry.actor_type}`;
      return t(key) === key ? (entry.actor || entry.actor_type) : t(key);
    };
    const why = (details) => details?.purpose || details?.reason || null;
    await pagedList(root, ctx, {
      path: '/api/v1/me/access-log',
      perPage: 10,
      item: (entry) => [
        el('p', {}, el('strong', {}, ACTIONS[ctx.lang][entry.action] || entry.action)),
        el('p', {class: 'muted small'}, when(entry.occurred_at, ctx.lang)),
        el('p', {}, `${t('by')}: ${who(entry)}`),
        entry.details?.type ? el('p', {}, `${t('what')}: ${entry.details.type}`) : null,
        why(entry.details) ? el('p', {}, `${t('why')}: ${why(entry.details)}`) : null,
      ],
    });
  },
};
