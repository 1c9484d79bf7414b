/**
 * Registration as the mobile contract does it: the device key is made here (WebCrypto,
 * non-extractable) and bound in the request; the SMS code, the password and the
 * passcode confirm it. Nothing typed here is kept but the personal id, in memory, to
 * fill the login form.
 */
import {actionForm, el} from '../dom.js';
import {confirmRegistration, startRegistration} from '../session.js';
import {otpField, remembered} from './login.js';

export default {
  id: 'register',
  path: 'register',
  nav: false,
  public: true,
  title: {vi: 'Đăng ký tài khoản', en: 'Register'},
  strings: {
    vi: {
      full_name: 'Họ và tên (như trên căn cước)',
      date_of_birth: 'Ngày sinh',
      phone: 'Số điện thoại',
      next: 'Tiếp tục',
      code_sent: 'Nếu thông tin khớp với Cơ sở dữ liệu quốc gia về dân cư, mã xác thực đã được gửi tới số {phone}.',
      password: 'Mật khẩu mới (ít nhất 8 ký tự)',
      password_again: 'Nhập lại mật khẩu',
      passcode: 'Mã PIN mới (6 số)',
      passcode_again: 'Nhập lại mã PIN',
      create: 'Tạo tài khoản',
      mismatch_password: 'Hai mật khẩu không giống nhau.',
      mismatch_passcode: 'Hai mã PIN không giống nhau.',
      done_active: 'Tài khoản đã được tạo. Hãy đăng nhập.',
      done_pending: 'Tài khoản đã được tạo và đang chờ công an xét duyệt.',
      have_account: 'Đã có tài khoản? Đăng nhập',
      error_password_common: 'Mật khẩu này quá phổ biến, hãy chọn mật khẩu khác.',
      error_password_too_short: 'Mật khẩu cần ít nhất 8 ký tự.',
    },
    en: {
      full_name: 'Full name (as on the ID card)',
      date_of_birth: 'Date of birth',
      phone: 'Phone number',
      next: 'Continue',
      code_sent: 'If the details match the national population database, a code was sent to {phone}.',
      password: 'New password (at least 8 characters)',
      password_again: 'Password again',
      passcode: 'New passcode (6 digits)',
      passcode_again: 'Passcode again',
      create: 'Create the account',
      mismatch_password: 'The two passwords differ.',
      mismatch_passcode: 'The two passcodes differ.',
      done_active: 'Your account is ready. Please log in.',
      done_pending: 'Your account was created and waits for a police review.',
      have_account: 'Already registered? Log in',
      error_password_common: 'This password is too common; choose another.',
      error_password_too_short: 'The password needs at least 8 characters.',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    const step1 = actionForm({
      fields: [
        ['personal_id', t('personal_id'), {inputmode: 'numeric', pattern: '[0-9]{12}',
          maxlength: '12', required: true, autocomplete: 'off'}],
        ['full_name', t('full_name'), {required: true, maxlength: '100', autocomplete: 'name'}],
        ['date_of_birth', t('date_of_birth'), {type: 'date', required: true, autocomplete: 'bday'}],
        ['phone', t('phone'), {type: 'tel', required: true, autocomplete: 'tel', maxlength: '20'}],
      ],
      submit: t('next'),
      errorText: ctx.errorText,
      action: async (values) => {
        const started = await startRegistration({personalId: values.personal_id,
          fullName: values.full_name, dateOfBirth: values.date_of_birth, phone: values.phone});
        remembered.personalId = values.personal_id;
        showStep2(started);
      },
    });
    root.append(step1.form, el('p', {}, el('a', {href: '#/login'}, t('have_account'))));
    step1.inputs.personal_id.focus();

    function showStep2(started) {
      const step2 = actionForm({
        intro: el('p', {id: 'code-sent'}, t('code_sent', {phone: started.phone_masked})),
        fields: [
          otpField(t),
          ['password', t('password'), {type: 'password', minlength: '8', maxlength: '128',
            required: true, autocomplete: 'new-password'}],
          ['password_again', t('password_again'), {type: 'password', required: true,
            autocomplete: 'new-password'}],
          ['passcode', t('passcode'), {type: 'password', inputmode: 'numeric',
            pattern: '[0-9]{6}', maxlength: '6', required: true, autocomplete: 'off'}],
          ['passcode_again', t('passcode_again'), {type: 'password', inputmode: 'numeric',
            pattern: '[0-9]{6}', maxlength: '6', required: true, autocomplete: 'off'}],
        ],
        submit: t('create'),
        errorText: (error) => (error instanceof Error && error.local ? error.message : ctx.errorText(error)),
        action: async (values) => {
          const local = (key) => Object.assign(new Error(t(key)), {local: true});
          if (values.password !== values.password_again) throw local('mismatch_password');
          if (values.passcode !== values.passcode_again) throw local('mismatch_passcode');
          const account = await confirmRegistration(started.registration_id, values);
          for (const input of Object.values(step2.inputs)) input.value = '';
          ctx.toast(t(account.status === 'active' ? 'done_active' : 'done_pending'));
          ctx.navigate('login');
        },
      });
      root.replaceChildren(step2.form);
      step2.inputs.otp.focus();
    }
  },
};
