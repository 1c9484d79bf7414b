/** Unlock a locked account: the password, then the SMS code sent to the registered phone. */
import {actionForm, el} from '../dom.js';
import {credentialFields, otpField, remembered} from './login.js';
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
      next: 'Gửi mã xác thực',
      code_sent: 'Nếu tài khoản đang bị khóa, mã xác thực đã được gửi tới số {phone}.',
      unlock: 'Mở khóa',
      done: 'Tài khoản đã được mở khóa. Hãy đăng nhập.',
      error_auth_failed: 'Số định danh hoặc mật khẩu không đúng.',
      error_account_not_locked: 'Tài khoản này không bị khóa.',
    },
    en: {
      intro: 'A locked account (a lost phone, wrong passcodes) is unlocked with the password and an SMS code sent to the registered phone.',
      next: 'Send the code',
      code_sent: 'If the account is locked, a code was sent to {phone}.',
      unlock: 'Unlock',
      done: 'The account is unlocked. Please log in.',
      error_auth_failed: 'The personal id or the password is not right.',
      error_account_not_locked: 'This account is not locked.',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    const step1 = actionForm({
      intro: el('p', {class: 'muted'}, t('intro')),
      fields: credentialFields(t),
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
        fields: [otpField(t)],
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
