/** Consent requests (being written). */
export default {
  id: 'consents',
  path: 'consents',
  nav: true,
  title: {vi: 'Yêu cầu đồng ý', en: 'Consent requests'},
  strings: {vi: {}, en: {}},
  async render(root, ctx) {
    root.append(ctx.el('p', {class: 'muted'}, ctx.t('loading')));
  },
};
