/** A small DOM builder: text goes in as text nodes, never as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A date-time for people, in the app's language. */
export function when(iso, lang) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB',
    {dateStyle: 'short', timeStyle: 'short'});
}

/** A labelled input: returns [wrapper, input]. */
export function field(id, label, attrs = {}) {
  const input = el('input', {id, name: id, ...attrs});
  return [el('div', {class: 'field'}, el('label', {for: id}, label), input), input];
}

/**
 * A form whose submit runs `action(values)`; the button is disabled while it runs and
 * an error is shown above the button (role=alert). `fields`: [[id, label, attrs], ...].
 */
export function actionForm({fields, submit, action, errorText, intro}) {
  const inputs = {};
  const error = el('p', {class: 'error', role: 'alert'});
  const button = el('button', {type: 'submit', class: 'primary'}, submit);
  const form = el('form', {class: 'card', novalidate: true}, intro || null,
    fields.map(([id, label, attrs]) => {
      const [wrapper, input] = field(id, label, attrs);
      inputs[id] = input;
      return wrapper;
    }), error, el('div', {class: 'actions'}, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const invalid = Object.values(inputs).find((input) => !input.checkValidity());
    if (invalid) {
      error.textContent = invalid.validationMessage;
      invalid.focus();
      return;
    }
    const values = Object.fromEntries(Object.entries(inputs).map(([id, input]) => [id, input.value]));
    button.disabled = true;
    try {
      await action(values);
    } catch (failure) {
      error.textContent = errorText(failure);
    } finally {
      button.disabled = false;
    }
  });
  return {form, inputs, error};
}

/** A list with a pager over a paged API answer ({page, per_page, total, items}). */
export async function pagedList(root, ctx, {path, perPage = 10, item, params = ''}) {
  const list = el('ul', {class: 'list'});
  const status = el('p', {class: 'muted', 'aria-live': 'polite'});
  const previous = el('button', {type: 'button', class: 'secondary'}, ctx.t('previous'));
  const next = el('button', {type: 'button', class: 'secondary'}, ctx.t('next'));
  const pager = el('div', {class: 'pager'}, previous, status, next);
  root.append(list, pager);
  let page = 1;
  async function load() {
    const data = await ctx.api.get(`${path}?page=${page}&per_page=${perPage}${params}`);
    const pages = Math.max(1, Math.ceil((data.total ?? data.items.length) / perPage));
    list.replaceChildren(...data.items.map((entry) => el('li', {}, item(entry))));
    if (!data.items.length) list.append(el('li', {class: 'muted'}, ctx.t('empty')));
    status.textContent = ctx.t('page_of', {page, pages});
    previous.disabled = page <= 1;
    next.disabled = page >= pages;
    pager.hidden = pages <= 1;
  }
  previous.addEventListener('click', () => { page -= 1; load().catch((e) => ctx.toast(ctx.errorText(e))); });
  next.addEventListener('click', () => { page += 1; load().catch((e) => ctx.toast(ctx.errorText(e))); });
  await load();
  return {reload: load};
}
