/** Login: personal id and password; the device key signs the server's challenge. */
import {actionForm, el} from '../dom.js';
import {hasDevice, login} from '../session.js';

/** The personal id and password fields (login, unlock): specs for actionForm. */
export function credentialFields(t) {
  return [
    ['personal_id', t('personal_id'), {inputmode: 'numeric', autocomplete: 'username',
      pattern: '[0-9]{12}', maxlength: '12', required: true}],
    ['password', t('password'), {type: 'password', autocomplete: 'current-password',
      required: true, maxlength: '128'}],
  ];
}

/** The SMS code field (registration, unlock). */
export function otpField(t) {
  return ['otp', t('otp'), {inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6',
    required: true, autocomplete: 'one-time-code'}];
}

/** The personal id typed at registration, kept in memory only, to fill the login form. */
export const remembered = {personalId: ''};

export default {
  id: 'login',
  path: 'login',
  nav: false,
  public: true,
  title: {vi: 'Đăng nhập', en: 'Log in'},
  strings: {
    vi: {
      submit: 'Đăng nhập',
      no_device: 'Trình duyệt này chưa gắn với tài khoản nào. Hãy đăng ký tài khoản trên thiết bị này.',
      register: 'Đăng ký tài khoản',
      unlock: 'Mở khóa tài khoản bị khóa',
      error_auth_failed: 'Số định danh, mật khẩu hoặc thiết bị không đúng.',
      error_account_not_active: 'Tài khoản chưa được phép đăng nhập.',
      error_device_missing: 'Thiết bị này chưa đăng ký.',
    },
    en: {
      submit: 'Log in',
      no_device: 'This browser is not bound to an account yet. Register on this device.',
      register: 'Register an account',
      unlock: 'Unlock a locked account',
      error_auth_failed: 'The personal id, the password or the device is not right.',
      error_account_not_active: 'This account may not log in.',
      error_device_missing: 'This device is not registered.',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    const {form, inputs} = actionForm({
      fields: credentialFields(t),
      submit: t('submit'),
      errorText: ctx.errorText,
      action: async (values) => {
        inputs.password.value = '';
        await login(values.personal_id, values.password);
        remembered.personalId = '';
        await ctx.signedIn();
      },
    });
    inputs.personal_id.value = remembered.personalId;
    if (!(await hasDevice())) root.append(el('p', {class: 'muted'}, t('no_device')));
    root.append(form, el('p', {}, el('a', {href: '#/register'}, t('register'))),
      el('p', {}, el('a', {href: '#/unlock', id: 'unlock-link'}, t('unlock'))));
    (remembered.personalId ? inputs.password : inputs.personal_id).focus();
  },
};
