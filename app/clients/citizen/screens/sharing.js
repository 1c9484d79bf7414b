/** Data sharing: every party that received my data, with an erasure request for each. */
import {el, pagedList, when} from '../dom.js';
import {attributeNames} from './consents.js';

export default {
  id: 'sharing',
  path: 'sharing',
  nav: true,
  title: {vi: 'Dữ liệu đã chia sẻ', en: 'Data shared'},
  strings: {
    vi: {
      intro: 'Các tổ chức đã nhận dữ liệu của bạn (sau khi bạn đồng ý). Bạn có thể yêu cầu họ xóa.',
      purpose: 'Mục đích',
      data: 'Dữ liệu',
      shared_at: 'Ngày chia sẻ',
      erase: 'Yêu cầu xóa dữ liệu',
      erase_confirm: 'Gửi yêu cầu xóa tới {party}?',
      erase_yes: 'Gửi yêu cầu',
      erasure_requested: 'Đã yêu cầu xóa lúc {time}',
      erasure_acknowledged: 'Tổ chức đã xác nhận xóa lúc {time}',
      erasure_sent: 'Đã gửi yêu cầu xóa.',
    },
    en: {
      intro: 'The organisations that received your data (with your consent). You may ask them to erase it.',
      purpose: 'Purpose',
      data: 'Data',
      shared_at: 'Shared on',
      erase: 'Ask for erasure',
      erase_confirm: 'Send an erasure request to {party}?',
      erase_yes: 'Send the request',
      erasure_requested: 'Erasure requested at {time}',
      erasure_acknowledged: 'The organisation confirmed the erasure at {time}',
      erasure_sent: 'The erasure request was sent.',
    },
  },
  async render(root, ctx) {
    const {t} = ctx;
    root.append(el('p', {class: 'muted'}, t('intro')));
    const list = await pagedList(root, ctx, {
      path: '/api/v1/me/data-sharing',
      perPage: 10,
      item: (share) => {
        const erase = el('button', {type: 'button', class: 'danger', dataset: {share: share.id}},
          t('erase'));
        erase.hidden = Boolean(share.erasure_requested_at);
        erase.addEventListener('click', () => {
          const yes = el('button', {type: 'button', class: 'danger'}, t('erase_yes'));
          const no = el('button', {type: 'button', class: 'secondary'}, ctx.t('cancel'));
          const ask = el('div', {class: 'actions'}, el('p', {}, t('erase_confirm', {party: share.party})), no, yes);
          erase.replaceWith(ask);
          yes.focus();
          no.addEventListener('click', () => { ask.replaceWith(erase); erase.focus(); });
          yes.addEventListener('click', async () => {
            yes.disabled = true;
            try {
              await ctx.api.post(`/api/v1/me/data-sharing/${encodeURIComponent(share.id)}/erasure-request`);
              ctx.toast(t('erasure_sent'));
              await list.reload();
            } catch (error) {
              yes.disabled = false;
              ctx.toast(ctx.errorText(error));
            }
          });
        });
        return [
          el('p', {}, el('strong', {}, share.party)),
          el('dl', {class: 'pairs'},
            el('dt', {}, t('purpose')), el('dd', {}, share.purpose),
            el('dt', {}, t('data')), el('dd', {}, attributeNames(share.attributes, ctx.lang)),
            el('dt', {}, t('shared_at')), el('dd', {}, when(share.shared_at, ctx.lang))),
          share.erasure_requested_at ? el('p', {class: 'muted'},
            t('erasure_requested', {time: when(share.erasure_requested_at, ctx.lang)})) : null,
          share.erasure_acknowledged_at ? el('p', {class: 'ok'},
            t('erasure_acknowledged', {time: when(share.erasure_acknowledged_at, ctx.lang)})) : null,
          el('div', {class: 'actions'}, erase),
        ];
      },
    });
  },
};
