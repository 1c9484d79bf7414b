/** Data sharing (being written). */
export default {
  id: 'sharing',
  path: 'sharing',
  nav: true,
  title: {vi: 'Chia sẻ dữ liệu', en: 'Data sharing'},
  strings: {vi: {}, en: {}},
  async render(root, ctx) {
    root.append(ctx.el('p', {class: 'muted'}, ctx.t('loading')));
  },
};
