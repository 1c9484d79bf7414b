/** Access history (being written). */
export default {
  id: 'history',
  path: 'history',
  nav: true,
  title: {vi: 'Lịch sử truy cập', en: 'Access history'},
  strings: {vi: {}, en: {}},
  async render(root, ctx) {
    root.append(ctx.el('p', {class: 'muted'}, ctx.t('loading')));
  },
};
