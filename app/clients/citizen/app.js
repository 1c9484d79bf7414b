/*
 * The citizen's app: boot, the hash router (#/route/params), the language switch,
 * the navigation bar, the passcode modal and the toasts. Screens: screens/index.js.
 */
import screens from './screens/index.js';
import shellStrings from './strings.js';
import {el} from './dom.js';
import {ApiError, api, dropSession, logout, onSessionEnd, resume} from './session.js';
import {createI18n} from '/clients/shared/i18n.js';

const LANG_KEY = 'vnid.citizen.lang';
const HOME = '';
const shell = createI18n(shellStrings, {storageKey: LANG_KEY});

const state = {
  get lang() { return shell.lang; },
  account: null,
  offline: false,
};

const byPath = new Map(screens.map((screen) => [screen.path, screen]));

/** The translator of one screen: its own strings first, then the shell's. */
function translator(screen) {
  const merged = {
    vi: {...shellStrings.vi, ...(screen?.strings?.vi || {})},
    en: {...shellStrings.en, ...(screen?.strings?.en || {})},
  };
  return createI18n(merged, {storageKey: LANG_KEY}).t;
}

const shellT = shell.t;

/** Whether an error is the network's (no answer at all), not the server's. */
export function isOffline(error) {
  return !(error instanceof ApiError) || error.status === 0;
}

/** The text to show for an error (ApiError, or a network failure). */
function errorText(error, t = shellT) {
  if (isOffline(error)) return t('network_error');
  if (error.code === 'passcode.wrong') {
    const left = error.errors?.remaining ?? (String(error.message).match(/(\d+) tries/) || [])[1];
    if (left !== undefined) return t('error_passcode_wrong', {left});
  }
  if (error.code === 'account.locked') return t('error_account_locked');
  const key = `error_${error.code.replace(/\W/g, '_')}`;
  const text = t(key);
  return text === key ? error.message : text;
}

// --- toasts and the passcode modal ------------------------------------------------

function toast(message) {
  const region = document.getElementById('toasts');
  const item = el('p', {class: 'toast'}, message);
  region.append(item);
  setTimeout(() => item.remove(), 6000);
}

function confirmPasscode(reasonText) {
  const t = shellT;
  return new Promise((resolve) => {
    const input = el('input', {id: 'passcode-input', type: 'password', inputmode: 'numeric',
      autocomplete: 'off', pattern: '[0-9]{6}', maxlength: '6', required: true,
      'aria-describedby': 'passcode-reason passcode-error'});
    const error = el('p', {id: 'passcode-error', class: 'error', 'aria-live': 'assertive'});
    const cancel = el('button', {type: 'button', class: 'secondary', value: 'cancel'}, t('cancel'));
    const form = el('form', {method: 'dialog', novalidate: true},
      el('h2', {id: 'passcode-title'}, t('passcode_title')),
      el('p', {id: 'passcode-reason'}, reasonText || ''),
      el('label', {for: 'passcode-input'}, t('passcode_label')), input, error,
      el('div', {class: 'actions'}, cancel,
        el('button', {type: 'submit', class: 'primary', id: 'passcode-ok'}, t('confirm'))));
    const dialog = el('dialog', {class: 'passcode', 'aria-labelledby': 'passcode-title'}, form);
    let answer = null;
    form.addEventListener('submit', (event) => {
      if (!/^[0-9]{6}$/.test(input.value)) {
        event.preventDefault();
        error.textContent = t('passcode_invalid');
        input.focus();
        return;
      }
      answer = input.value;
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      input.value = '';
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

// --- the account ---------------------------------------------------------------

async function refreshAccount() {
  const status = await api.get('/api/v1/me/status');
  state.account = status.status === 'active'
    ? {...status, ...(await api.get('/api/v1/me'))} : status;
  return state.account;
}

// --- rendering ----------------------------------------------------------------------

function parseHash() {
  const parts = decodeURIComponent(location.hash.replace(/^#\/?/, '')).split('/').filter(Boolean);
  return {path: parts[0] || HOME, params: parts.slice(1)};
}

export function navigate(path) {
  const target = `#/${path}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function renderChrome(current) {
  document.documentElement.lang = state.lang;
  const t = shellT;
  const langButton = document.getElementById('lang');
  langButton.textContent = t('switch_lang');
  langButton.setAttribute('lang', state.lang === 'vi' ? 'en' : 'vi');
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('nav'));
  nav.replaceChildren();
  const logoutButton = document.getElementById('logout');
  logoutButton.textContent = t('logout');
  const signedIn = state.account !== null;
  logoutButton.hidden = !signedIn;
  if (!signedIn || state.account.status !== 'active') return;
  for (const screen of screens.filter((s) => s.nav)) {
    const link = el('a', {href: `#/${screen.path}`, class: 'nav-link',
      'aria-current': screen === current ? 'page' : null}, screen.title[state.lang]);
    nav.append(link);
  }
  nav.querySelector('[aria-current="page"]')?.scrollIntoView({block: 'nearest', inline: 'nearest'});
}

let renderCount = 0;

async function render() {
  const mine = ++renderCount;
  const {path, params} = parseHash();
  let screen = byPath.get(path);
  if (!screen?.public && state.account === null) {
    const resumed = await resume().catch((error) => {
      if (isOffline(error)) state.offline = true;
      return false;
    });
    if (resumed) {
      try {
        await refreshAccount();
        state.offline = false;
      } catch (error) {
        if (isOffline(error)) state.offline = true;
      }
    }
    if (mine !== renderCount) return;
    if (state.account === null && !state.offline) {
      screen = byPath.get('login');
    }
  }
  if (state.offline && state.account === null) screen = byPath.get('qr');
  if (state.account && state.account.status !== 'active' && !screen?.public) {
    screen = byPath.get(HOME);
  }
  const root = document.getElementById('root');
  renderChrome(screen);
  if (!screen) {
    root.replaceChildren(el('section', {class: 'screen'}, el('p', {}, shellT('not_found'))));
    return;
  }
  document.title = `${screen.title[state.lang]} · VNeID`;
  const section = el('section', {class: 'screen', dataset: {screen: screen.id},
    'aria-labelledby': `title-${screen.id}`});
  const heading = el('h1', {id: `title-${screen.id}`, tabindex: '-1'}, screen.title[state.lang]);
  const body = el('div', {class: 'screen-body'}, el('p', {class: 'muted'}, shellT('loading')));
  section.append(heading, body);
  root.replaceChildren(section);
  const t = translator(screen);
  const ctx = {
    api, t, lang: state.lang, navigate, confirmPasscode, toast, el,
    account: state.account, offline: state.offline,
    errorText: (error) => errorText(error, t),
    refreshAccount: async () => { const account = await refreshAccount(); ctx.account = account; return account; },
    signedIn: async () => { await refreshAccount(); navigate(HOME); },
    lockedOut: async (status) => { await dropSession(); state.account = status; render(); },
  };
  try {
    body.replaceChildren();
    await screen.render(body, ctx, params);
  } catch (error) {
    if (mine !== renderCount) return;
    body.replaceChildren(el('p', {class: 'error', role: 'alert'}, errorText(error, t)));
  }
  // A new screen: focus its heading (screen readers announce it), unless the screen
  // focused a field of its own or the language button was pressed.
  const focused = document.activeElement;
  if (mine === renderCount && (focused === document.body || focused.closest('#nav'))) {
    heading.focus();
  }
}

function boot() {
  document.getElementById('lang').addEventListener('click', () => {
    shell.setLang(state.lang === 'vi' ? 'en' : 'vi');
    render();
  });
  document.getElementById('logout').addEventListener('click', async () => {
    await logout();
  });
  onSessionEnd(() => {
    state.account = null;
    navigate('login');
  });
  window.addEventListener('hashchange', render);
  window.addEventListener('online', () => { if (state.offline) { state.offline = false; render(); } });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', {scope: '/app/'}).catch(() => {});
  }
  render();
}

boot();
