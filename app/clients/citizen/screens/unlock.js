/** Unlock a locked account: the password, then the SMS code sent to the registered phone. */
import {actionForm, el} from '../dom.js';
import {remembered} from './login.js';
import {request} from '../session.js';

export default {
  id: 'unlock',
  path: 'unlock',
  nav: false,
  public: true,
  title: {vi: 'Mở khóa tài khoản', en: 'Unlock the account'},
  strings: {
    vi: {
      intro: 'Tài khoản bị khóa (mất điện thoại, nhập sai mã PIN) được mở bằng mật khẩu và mã SMS gửi tới số điện thoại đã đăng ký.',
      personal_id: 'Số định danh cá nhân (12 số)',
      password: 'Mật khẩu',
      next: 'Gửi mã xác thực',
      code_sent: 'Nếu tài khoản đang bị khóa, mã xác thực đã được gửi tới số {phone}.',
      otp: 'Mã xác thực SMS (6 số)',
      unlock: 'Mở khóa',
      done: 'Tài khoản đã được mở khóa. Hãy đăng nhập.',
      error_auth_failed: 'Số định danh hoặc mật khẩu không đúng.',
      error_account_not_locked: 'Tài khoản này không bị khóa.',
      error_otp_invalid: 'Mã xác thực sai hoặc đã hết hạn.',
    },
    en: {
      intro: 'A locked account (a lost phone, wrong passcodes) is unlocked with the password and an SMS code sent to the registered phone.',
      personal_id: 'Personal id number (12 digits)',
      password: 'Password',
      next: 'Send the code',
      code_sent: 'If the account is locked, a code was sent to {phone}.',
      otp: 'SMS code (6 digits)',
      unlock: 'Unlock',
      done: 'The account is unlocked. Please log in.',
      error_auth_failed: 'The personal id or the password is not right.',
      error_account_not_locked: 'This account is not locked.',
      error_otp_invalid: 'The code is wrong or has expired.',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    const step1 = actionForm({
      intro: el('p', {class: 'muted'}, t('intro')),
      fields: [
        ['personal_id', t('personal_id'), {inputmode: 'numeric', autocomplete: 'username',
          pattern: '[0-9]{12}', maxlength: '12', required: true}],
        ['password', t('password'), {type: 'password', autocomplete: 'current-password',
          required: true, maxlength: '128'}],
      ],
      submit: t('next'),
      errorText: ctx.errorText,
      action: async (values) => {
        step1.inputs.password.value = '';
        const started = await request('POST', '/api/v1/auth/unlock', {body: {
          personal_id: values.personal_id, password: values.password}});
        remembered.personalId = values.personal_id;
        showStep2(started);
      },
    });
    step1.inputs.personal_id.value = remembered.personalId;
    root.append(step1.form);
    step1.inputs[remembered.personalId ? 'password' : 'personal_id'].focus();

    function showStep2(started) {
      const step2 = actionForm({
        intro: el('p', {id: 'unlock-code-sent'}, t('code_sent', {phone: started.phone_masked})),
        fields: [['otp', t('otp'), {inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6',
          required: true, autocomplete: 'one-time-code'}]],
        submit: t('unlock'),
        errorText: ctx.errorText,
        action: async (values) => {
          await request('POST',
            `/api/v1/auth/unlock/${encodeURIComponent(started.unlock_id)}/confirm`,
            {body: {otp: values.otp}});
          ctx.toast(t('done'));
          ctx.navigate('login');
        },
      });
      root.replaceChildren(step2.form);
      step2.inputs.otp.focus();
    }
  },
};
