// Two languages, Vietnamese first and English second. The choice is a UI
// preference kept in localStorage (no secret in it).

const LANGS = ['vi', 'en'];

function fill(template, vars) {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    (Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole));
}

function stored(storageKey) {
  try {
    return storageKey ? window.localStorage.getItem(storageKey) : null;
  } catch (ignored) {
    return null; // storage disabled: the default language
  }
}

/**
 * @param {{vi: Object<string,string>, en: Object<string,string>}} dictionaries
 * @param {{storageKey?: string, fallback?: string}} options
 */
export function createI18n(dictionaries, { storageKey = 'vnid.lang', fallback = 'vi' } = {}) {
  let lang = stored(storageKey);
  if (!LANGS.includes(lang) || !dictionaries[lang]) lang = fallback;

  const i18n = {
    get lang() { return lang; },
    /** The text of ``key`` in the current language ({name} replaced from vars). */
    t(key, vars) {
      const text = (dictionaries[lang] || {})[key] ?? (dictionaries[fallback] || {})[key] ?? key;
      return fill(text, vars);
    },
    /** Switch language, remember it, and translate the document again. */
    setLang(next) {
      if (!dictionaries[next]) return;
      lang = next;
      try {
        if (storageKey) window.localStorage.setItem(storageKey, next);
      } catch (ignored) { /* storage disabled: the choice lasts for this page */ }
      i18n.apply(document);
      document.dispatchEvent(new CustomEvent('langchange', { detail: { lang } }));
    },
    /** Fill [data-i18n] text and [data-i18n-placeholder], [data-i18n-aria-label], [data-i18n-title]. */
    apply(root = document) {
      if (root === document || root === document.documentElement) {
        document.documentElement.lang = lang;
      }
      const scope = root.querySelectorAll ? root : document;
      for (const el of scope.querySelectorAll('[data-i18n]')) {
        el.textContent = i18n.t(el.dataset.i18n);
      }
      for (const [attr, data] of [['placeholder', 'i18nPlaceholder'],
        ['aria-label', 'i18nAriaLabel'], ['title', 'i18nTitle']]) {
        for (const el of scope.querySelectorAll(`[data-i18n-${attr}]`)) {
          el.setAttribute(attr, i18n.t(el.dataset[data]));
        }
      }
    },
  };
  return i18n;
}
