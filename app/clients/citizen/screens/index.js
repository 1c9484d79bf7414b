/*
 * The screens of the citizen's app (/app/), in the order of the navigation bar.
 *
 * THE SCREEN CONTRACT (every file of this folder follows it):
 *
 *   export default {
 *     id: 'reports',                 // unique, also the CSS hook: <section data-screen="reports">
 *     path: 'reports',               // the route: #/reports, #/reports/<a>/<b> gives params ['<a>', '<b>']
 *     nav: true,                     // true: a button in the navigation bar
 *     public: false,                 // optional; true: shown without a session (login, register)
 *     title: {vi: 'Phản ánh', en: 'Reports'},
 *     strings: {vi: {key: 'Văn bản'}, en: {key: 'Text'}},   // this screen's own strings
 *     async render(root, ctx, params) { ... },  // root: an empty element under the screen's <h1>
 *   };
 *
 * ctx (a fresh object per render):
 *   api                 the authenticated API, the methods and options of the shared Api
 *                       (/clients/shared/api.js): await ctx.api.get('/api/v1/...'),
 *                       ctx.api.post(path, body, {idempotencyKey: true}), ctx.api.request(
 *                       method, path, {body, headers}); ctx.api.fetch(path, init) for what is
 *                       not JSON (multipart uploads, images: a Response); ctx.api.withToken(
 *                       (token) => ...) for a call of your own (an XMLHttpRequest upload with
 *                       progress), retried once after a refresh. The session's token
 *                       is added; a 401 for an expired token refreshes once and retries. An
 *                       error answer throws ApiError {status, code, message, errors}
 *                       (status 0, code 'network': no answer at all).
 *   t(key, vars)        this screen's string in the current language, else the shell's
 *                       (strings.js); '{name}' in a string is replaced by vars.name.
 *   lang                'vi' or 'en'.
 *   navigate(path)      go to '#/<path>' ('' is home).
 *   confirmPasscode(reasonText) -> Promise<string|null>
 *                       a modal asking the 6-digit passcode (Enter confirms, Escape cancels);
 *                       null when cancelled. Never store what it returns: send it and drop it.
 *   toast(msg)          a short message read out by screen readers (aria-live).
 *   account             the GET /api/v1/me answer (status, level, device_id, full_name...).
 *   refreshAccount()    re-read it (after a lock, a level change...); returns it.
 *   el(tag, attrs, ...children)  a small DOM helper (see dom.js); never use innerHTML with data.
 *   errorText(error)    the text to show for an ApiError or a network failure.
 *
 * Adding a screen: write screens/<name>.js. reports.js, residence.js and payments.js are
 * loaded by the list below when present (no edit of this file needed); any other name
 * gets an import line here. Helpers for screens in ../dom.js: el, field, when,
 * actionForm (a form with busy state and error), pagedList (a paged API list with a pager).
 *
 * Rules: no inline script or style (the CSP refuses them): classes from app.css, or
 * element.style set from script. Every control has a label and works with the keyboard.
 * Screens only render for an `active` account; the shell shows the others their status.
 */
import home from './home.js';
import qr from './qr.js';
import history from './history.js';
import sharing from './sharing.js';
import consents from './consents.js';
import login from './login.js';
import register from './register.js';
import unlock from './unlock.js';

/** Screens written by other parts of the project, loaded when present. */
const OPTIONAL = ['reports', 'residence', 'payments'];

async function optional(name) {
  try {
    return (await import(`./${name}.js`)).default;
  } catch {
    return null;
  }
}

const extra = (await Promise.all(OPTIONAL.map(optional))).filter(Boolean);

export default [home, qr, consents, ...extra, history, sharing, login, register, unlock];
