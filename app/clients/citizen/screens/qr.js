/*
 * Show my QR: choose what to show, confirm with the passcode, and the app draws the
 * signed VN1 text itself (shared qrSvg) with a countdown to its expiry; a new one in
 * one tap. A verifier's request (audience and nonce) can be pasted or scanned. The last
 * QR stays on the phone (IndexedDB) until it expires, so it shows without a network.
 */
import {el, when} from '../dom.js';
import {loadLastQr, parseVerifierRequest, saveLastQr, dropLastQr} from '../lastqr.js';
import {qrSvg} from '/clients/shared/qr.js';

const TYPES = ['identity_basic', 'identity', 'age_over_18', 'residence'];
const AUDIENCE = '^[A-Za-z0-9._~:\\-]{1,16}$';
const NONCE = '^[A-Za-z0-9._~\\-]{8,12}$';

export default {
  id: 'qr',
  path: 'qr',
  nav: true,
  title: {vi: 'Mã QR của tôi', en: 'My QR code'},
  strings: {
    vi: {
      what: 'Chọn thông tin để xuất trình',
      type_identity: 'Căn cước điện tử (đầy đủ, cần mức 2)',
      type_identity_basic: 'Thông tin cơ bản (họ tên, mức định danh)',
      type_age_over_18: 'Đủ 18 tuổi (dùng một lần)',
      type_residence: 'Thông tin cư trú',
      documents: 'Giấy tờ trong ví',
      level2_needed: 'Cần tài khoản định danh mức 2.',
      verifier: 'Bên kiểm tra yêu cầu mã riêng (không bắt buộc)',
      request: 'Dán yêu cầu của bên kiểm tra',
      request_hint: 'Ví dụ: aud=rp:vcb01&nonce=Qx7-kP2mZ9aa',
      scan: 'Quét mã yêu cầu',
      scan_photo: 'Chọn ảnh mã yêu cầu',
      scan_stop: 'Dừng quét',
      scan_failed: 'Không đọc được mã yêu cầu.',
      audience: 'Bên nhận (audience)',
      nonce: 'Mã nonce của bên kiểm tra',
      show: 'Tạo mã QR',
      renew: 'Tạo mã mới',
      hide: 'Ẩn mã',
      reason: 'Xác nhận để tạo mã QR: {what}',
      expires_in: 'Hết hạn sau {time}',
      expired: 'Mã đã hết hạn.',
      expires_at: 'Hiệu lực đến {time}',
      for_audience: 'Dành cho {audience}',
      last_offline: 'Mã QR gần nhất (hiển thị được khi không có mạng).',
      offline_none: 'Không có mạng và không có mã QR nào còn hiệu lực trên máy.',
      qr_label: 'Mã QR: {what}',
      error_credential_level_too_low: 'Loại này cần tài khoản mức 2.',
      error_credential_type_unknown: 'Loại mã không được hỗ trợ.',
      error_validation: 'Bên nhận hoặc nonce không đúng định dạng.',
    },
    en: {
      what: 'Choose what to show',
      type_identity: 'Electronic ID (full, needs level 2)',
      type_identity_basic: 'Basic details (name, identity level)',
      type_age_over_18: 'Aged 18 or over (single use)',
      type_residence: 'Residence',
      documents: 'Documents in the wallet',
      level2_needed: 'Needs a level 2 account.',
      verifier: 'The verifier asks for a code of its own (optional)',
      request: 'Paste the verifier\'s request',
      request_hint: 'For example: aud=rp:vcb01&nonce=Qx7-kP2mZ9aa',
      scan: 'Scan the request',
      scan_photo: 'Pick a photo of the request',
      scan_stop: 'Stop scanning',
      scan_failed: 'The request could not be read.',
      audience: 'Audience',
      nonce: 'The verifier\'s nonce',
      show: 'Make the QR code',
      renew: 'New code',
      hide: 'Hide the code',
      reason: 'Confirm to make a QR code: {what}',
      expires_in: 'Expires in {time}',
      expired: 'The code has expired.',
      expires_at: 'Valid until {time}',
      for_audience: 'For {audience}',
      last_offline: 'The last QR code (shown without a network).',
      offline_none: 'No network, and no valid QR code kept on this phone.',
      qr_label: 'QR code: {what}',
      error_credential_level_too_low: 'This type needs a level 2 account.',
      error_credential_type_unknown: 'This type is not supported.',
      error_validation: 'The audience or the nonce is not well formed.',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    const shown = el('div', {id: 'qr-current', class: 'card qr-box', 'aria-live': 'polite'});
    shown.hidden = true;
    let timer = null;
    let last = null; // what was asked last, for "new code"

    function clear() {
      clearInterval(timer);
      shown.replaceChildren();
      shown.hidden = true;
      delete shown.dataset.vn1;
    }

    function draw(issued, {offline = false} = {}) {
      clearInterval(timer);
      const countdown = el('p', {class: 'countdown', id: 'qr-countdown'});
      const renew = el('button', {type: 'button', class: 'primary', id: 'qr-renew'}, t('renew'));
      const hide = el('button', {type: 'button', class: 'secondary', id: 'qr-hide'}, t('hide'));
      renew.hidden = offline || !last;
      renew.addEventListener('click', () => issue(last));
      hide.addEventListener('click', async () => { clear(); await dropLastQr(); });
      shown.replaceChildren(...[
        offline ? el('p', {class: 'status warn'}, t('last_offline')) : null,
        el('h2', {}, issued.label),
        qrSvg(issued.qr, {label: t('qr_label', {what: issued.label})}),
        countdown,
        el('p', {class: 'muted'}, t('expires_at', {time: when(issued.expires_at, ctx.lang)})),
        issued.audience ? el('p', {class: 'muted'}, t('for_audience', {audience: issued.audience})) : null,
        el('div', {class: 'actions'}, hide, renew)].filter(Boolean));
      shown.dataset.vn1 = issued.qr;
      shown.dataset.credentialId = issued.credential_id;
      shown.dataset.expiresAt = issued.expires_at;
      shown.hidden = false;
      const tick = () => {
        const left = Math.max(0, Math.floor((Date.parse(issued.expires_at) - Date.now()) / 1000));
        if (!shown.isConnected) { clearInterval(timer); return; }
        if (left <= 0) {
          clearInterval(timer);
          shown.querySelector('svg.qr')?.remove();
          delete shown.dataset.vn1;
          countdown.textContent = t('expired');
          dropLastQr();
          return;
        }
        const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
        countdown.textContent = t('expires_in', {time});
      };
      tick();
      timer = setInterval(tick, 1000);
    }

    async function issue(request) {
      const passcode = await ctx.confirmPasscode(t('reason', {what: request.label}));
      if (passcode === null) return;
      const body = {passcode};
      if (request.audience) body.audience = request.audience;
      if (request.nonce) body.nonce = request.nonce;
      const path = request.documentId
        ? `/api/v1/me/documents/${encodeURIComponent(request.documentId)}/credential`
        : '/api/v1/credentials';
      if (!request.documentId) body.type = request.type;
      try {
        const answer = await ctx.api.post(path, body);
        last = request;
        const issued = {qr: answer.qr, type: answer.type, credential_id: answer.credential_id,
          expires_at: answer.expires_at, label: request.label, audience: request.audience || null,
          request};
        await saveLastQr(issued);
        draw(issued);
        shown.querySelector('h2').focus?.();
      } catch (error) {
        ctx.toast(ctx.errorText(error));
      }
    }

    const kept = await loadLastQr();
    if (ctx.offline) {
      root.append(kept ? shown : el('p', {class: 'status warn'}, t('offline_none')));
      if (kept) draw(kept, {offline: true});
      return;
    }

    // What to show: the credential types, then the wallet's valid documents.
    const choices = el('fieldset', {}, el('legend', {}, t('what')));
    const radio = (value, label, {disabled = false, note = null} = {}) => {
      const id = `qr-type-${value.replace(/\W/g, '-')}`;
      choices.append(el('label', {class: 'choice', for: id},
        el('input', {type: 'radio', name: 'qr-type', id, value, disabled}), label,
        note ? el('span', {class: 'muted small'}, ` (${note})`) : null));
    };
    for (const type of TYPES) {
      const tooLow = type === 'identity' && ctx.account.level < 2;
      radio(type, t(`type_${type}`), {disabled: tooLow, note: tooLow ? t('level2_needed') : null});
    }
    let documents = [];
    try {
      documents = (await ctx.api.get('/api/v1/me/documents')).items
        .filter((doc) => doc.status === 'valid');
    } catch (error) {
      ctx.toast(ctx.errorText(error));
    }
    if (documents.length) choices.append(el('p', {class: 'muted'}, t('documents')));
    for (const doc of documents) radio(`document:${doc.id}`, doc.label);
    choices.querySelector('input[value="identity_basic"]').checked = true;

    // The verifier's request, pasted or scanned, filling the audience and the nonce.
    const requestInput = el('input', {id: 'qr-request', autocomplete: 'off',
      'aria-describedby': 'qr-request-hint'});
    const audience = el('input', {id: 'qr-audience', autocomplete: 'off', pattern: AUDIENCE,
      maxlength: '16'});
    const nonce = el('input', {id: 'qr-nonce', autocomplete: 'off', pattern: NONCE, maxlength: '12'});
    const fill = (text) => {
      const parsed = parseVerifierRequest(text);
      audience.value = parsed.audience || '';
      nonce.value = parsed.nonce || '';
    };
    requestInput.addEventListener('input', () => fill(requestInput.value));
    const scanButton = el('button', {type: 'button', class: 'secondary', id: 'qr-scan'}, t('scan'));
    const photo = el('input', {type: 'file', id: 'qr-photo', accept: 'image/*', capture: 'environment'});
    const video = el('video', {id: 'qr-video', playsinline: true, muted: true});
    video.hidden = true;
    let scanning = null;
    scanButton.addEventListener('click', async () => {
      const {scanFromCamera} = await import('/clients/shared/scan.js');
      if (scanning) { scanning.abort(); return; }
      scanning = new AbortController();
      video.hidden = false;
      scanButton.textContent = t('scan_stop');
      try {
        const text = await scanFromCamera(video, {signal: scanning.signal});
        requestInput.value = text;
        fill(text);
      } catch (error) {
        if (error?.name !== 'AbortError') ctx.toast(t('scan_failed'));
      } finally {
        scanning = null;
        video.hidden = true;
        scanButton.textContent = t('scan');
      }
    });
    photo.addEventListener('change', async () => {
      const {scanFromImageFile} = await import('/clients/shared/scan.js');
      const text = photo.files[0] ? await scanFromImageFile(photo.files[0]).catch(() => null) : null;
      if (!text) { ctx.toast(t('scan_failed')); return; }
      requestInput.value = text;
      fill(text);
    });
    const verifier = el('details', {id: 'qr-verifier'}, el('summary', {}, t('verifier')),
      el('div', {class: 'field'}, el('label', {for: 'qr-request'}, t('request')), requestInput,
        el('p', {class: 'muted small', id: 'qr-request-hint'}, t('request_hint'))),
      el('div', {class: 'actions'}, scanButton),
      el('div', {class: 'field'}, el('label', {for: 'qr-photo'}, t('scan_photo')), photo),
      video,
      el('div', {class: 'field'}, el('label', {for: 'qr-audience'}, t('audience')), audience),
      el('div', {class: 'field'}, el('label', {for: 'qr-nonce'}, t('nonce')), nonce));

    const error = el('p', {class: 'error', role: 'alert'});
    const form = el('form', {class: 'card', id: 'qr-form', novalidate: true}, choices, verifier, error,
      el('div', {class: 'actions'}, el('button', {type: 'submit', class: 'primary', id: 'qr-show'}, t('show'))));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      error.textContent = '';
      const bad = [audience, nonce].find((input) => input.value && !input.checkValidity());
      if (bad) {
        error.textContent = t('error_validation');
        bad.focus();
        return;
      }
      const picked = choices.querySelector('input[name="qr-type"]:checked');
      const label = picked.closest('label').firstChild.nextSibling.textContent;
      const request = {label, audience: audience.value || null, nonce: nonce.value || null};
      if (picked.value.startsWith('document:')) request.documentId = picked.value.slice(9);
      else request.type = picked.value;
      scanning?.abort();
      issue(request);
    });
    root.append(shown, form);
    if (kept) {
      last = kept.request || null; // "new code" asks again for what was asked last
      draw(kept);
    }
  },
};
