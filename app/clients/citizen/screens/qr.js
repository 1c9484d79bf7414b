/** My QR (being written). */
export default {
  id: 'qr',
  path: 'qr',
  nav: true,
  title: {vi: 'Mã QR của tôi', en: 'My QR'},
  strings: {vi: {}, en: {}},
  async render(root, ctx) {
    root.append(ctx.el('p', {class: 'muted'}, ctx.t('loading')));
  },
};
