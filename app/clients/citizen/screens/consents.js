/** Consent requests: who asks for what and why; approve or refuse with the passcode. */
import {el, pagedList, when} from '../dom.js';

/** The consent catalogue's attributes (docs/relying-parties.md), for people. */
const ATTRIBUTES = {
  vi: {full_name: 'Họ và tên', date_of_birth: 'Ngày sinh', sex: 'Giới tính',
    permanent_address: 'Địa chỉ thường trú', phone: 'Số điện thoại', level: 'Mức định danh',
    photo_reference: 'Ảnh chân dung', household: 'Hộ gia đình'},
  en: {full_name: 'Full name', date_of_birth: 'Date of birth', sex: 'Sex',
    permanent_address: 'Permanent address', phone: 'Phone number', level: 'Identity level',
    photo_reference: 'Photo', household: 'Household'},
};

export function attributeNames(attributes, lang) {
  return (attributes || []).map((name) => ATTRIBUTES[lang][name] || name).join(', ');
}

export default {
  id: 'consents',
  path: 'consents',
  nav: true,
  title: {vi: 'Yêu cầu chia sẻ', en: 'Data requests'},
  strings: {
    vi: {
      intro: 'Tổ chức (ngân hàng, nhà mạng…) xin nhận dữ liệu của bạn. Dữ liệu chỉ được gửi khi bạn đồng ý bằng mã PIN.',
      purpose: 'Mục đích',
      data: 'Dữ liệu xin nhận',
      asked_at: 'Ngày yêu cầu',
      expires_at: 'Hết hạn',
      approve: 'Đồng ý',
      refuse: 'Từ chối',
      reason_approve: 'Đồng ý gửi {data} cho {party}',
      reason_refuse: 'Từ chối yêu cầu của {party}',
      approved: 'Đã đồng ý. {party} sẽ nhận dữ liệu một lần.',
      refused: 'Đã từ chối.',
      st_pending: 'Đang chờ', st_approved: 'Đã đồng ý', st_refused: 'Đã từ chối',
      st_rejected: 'Đã từ chối', st_expired: 'Hết hạn', st_fetched: 'Đã gửi dữ liệu',
      kind_bank: 'Ngân hàng', kind_telco: 'Nhà mạng', kind_hotel: 'Cơ sở lưu trú', kind_other: 'Tổ chức',
    },
    en: {
      intro: 'Organisations (banks, telcos…) ask for your data. It is sent only when you agree with your passcode.',
      purpose: 'Purpose',
      data: 'Data asked for',
      asked_at: 'Asked on',
      expires_at: 'Expires',
      approve: 'Approve',
      refuse: 'Refuse',
      reason_approve: 'Send {data} to {party}',
      reason_refuse: 'Refuse the request of {party}',
      approved: 'Approved. {party} will receive the data once.',
      refused: 'Refused.',
      st_pending: 'Waiting', st_approved: 'Approved', st_refused: 'Refused', st_rejected: 'Refused',
      st_expired: 'Expired', st_fetched: 'Data sent',
      kind_bank: 'Bank', kind_telco: 'Telco', kind_hotel: 'Lodging', kind_other: 'Organisation',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    const label = (prefix, value) => (t(`${prefix}_${value}`) === `${prefix}_${value}` ? value : t(`${prefix}_${value}`));
    root.append(el('p', {class: 'muted'}, t('intro')));
    const list = await pagedList(root, ctx, {
      path: '/api/v1/me/consent-requests',
      perPage: 10,
      item: (request) => {
        const data = attributeNames(request.attributes, ctx.lang);
        const decide = async (approve) => {
          const reason = t(approve ? 'reason_approve' : 'reason_refuse', {data, party: request.party});
          const passcode = await ctx.confirmPasscode(reason);
          if (passcode === null) return;
          try {
            await ctx.api.post(`/api/v1/me/consent-requests/${encodeURIComponent(request.id)}/decision`,
              {approve, passcode});
            ctx.toast(approve ? t('approved', {party: request.party}) : t('refused'));
            await list.reload();
          } catch (error) {
            ctx.toast(ctx.errorText(error));
          }
        };
        const pending = request.status === 'pending';
        const approve = el('button', {type: 'button', class: 'primary', dataset: {consent: request.id, decision: 'approve'}}, t('approve'));
        const refuse = el('button', {type: 'button', class: 'secondary', dataset: {consent: request.id, decision: 'refuse'}}, t('refuse'));
        approve.addEventListener('click', () => decide(true));
        refuse.addEventListener('click', () => decide(false));
        return [
          el('p', {}, el('strong', {}, request.party), ' ',
            el('span', {class: 'muted small'}, `(${label('kind', request.party_kind)})`)),
          el('p', {}, el('span', {class: `badge ${request.status}`, dataset: {status: request.status}},
            label('st', request.status))),
          el('dl', {class: 'pairs'},
            el('dt', {}, t('purpose')), el('dd', {}, request.purpose),
            el('dt', {}, t('data')), el('dd', {}, data),
            el('dt', {}, t('asked_at')), el('dd', {}, when(request.created_at, ctx.lang)),
            pending ? [el('dt', {}, t('expires_at')), el('dd', {}, when(request.expires_at, ctx.lang))] : null),
          pending ? el('div', {class: 'actions'}, refuse, approve) : null,
        ];
      },
    });
  },
};
