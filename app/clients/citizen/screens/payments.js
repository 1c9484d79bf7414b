// Fees and fines (docs/payments.md): my orders, paying one through my bank,
// the receipt with its signed QR drawn here from the VN1 text.
//
//   #/payments          my orders, those to pay first
//   #/payments/<id>     one order: pay it (bank, passcode, the bank's page), follow the
//                       bank's answer, then the receipt and its QR
//
// Paying carries an Idempotency-Key made once per intended payment and kept
// until the server answers: a retry after a lost answer cannot pay twice.
import { el, when } from '../dom.js';
import { qrSvg } from '/clients/shared/qr.js';
import { badge, day, labelled, money, select, showError, withKit } from './utilities-kit.js';

const API = '/api/v1/payments';
const TONES = { open: 'warn', pending: 'warn', paid: 'ok', refunded: 'neutral' };
const POLL_MS = 1500;
const POLL_FOR_MS = 120000;
/** Order id -> the Idempotency-Key of the payment in progress (until the server answers). */
const pendingKeys = new Map();

const statusBadge = (ctx, status) => badge(ctx, status, TONES[status] || 'neutral');

function orderItem(ctx, order) {
  return el('li', { dataset: { order: String(order.id) } },
    el('a', { href: `#/payments/${order.id}` }, order.description), ' ',
    statusBadge(ctx, order.status),
    el('div', { class: 'row small' }, el('strong', {}, money(order.amount, ctx.lang)),
      el('span', { class: 'muted' }, ctx.t(`kind_${order.kind}`)),
      order.due_date ? el('span', { class: 'muted' }, ctx.t('due', { date: day(order.due_date) }))
        : null));
}

async function renderList(root, ctx) {
  const orders = await ctx.api.get(`${API}?per_page=50`);
  const toPay = orders.items.filter((o) => o.status === 'open' || o.status === 'pending');
  const done = orders.items.filter((o) => !toPay.includes(o));
  root.append(el('h2', {}, ctx.t('to_pay')), toPay.length
    ? el('ul', { class: 'list', id: 'payments-open' }, toPay.map((o) => orderItem(ctx, o)))
    : el('p', { class: 'muted' }, ctx.t('nothing_to_pay')));
  if (done.length) {
    root.append(el('h2', {}, ctx.t('done')),
      el('ul', { class: 'list', id: 'payments-done' }, done.map((o) => orderItem(ctx, o))));
  }
}

/** Pay: the bank, the passcode, then the bank's page; the order is polled until it settles. */
async function payForm(ctx, order, again) {
  const banks = await ctx.api.get(`${API}/banks`);
  const bank = select(banks.items.map((b) => [b.code, b.name]), { required: true });
  const pay = el('button', { type: 'submit', class: 'primary', id: 'pay-submit' },
    ctx.t('pay', { amount: money(order.amount, ctx.lang) }));
  const form = el('form', { class: 'card', id: 'pay-form', novalidate: true },
    labelled('pay-bank', ctx.t('bank'), bank), pay);
  bank.name = 'bank';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const passcode = await ctx.confirmPasscode(ctx.t('pay_reason',
      { amount: money(order.amount, ctx.lang), what: order.description }));
    if (passcode === null) return;
    pay.disabled = true;
    if (!pendingKeys.has(order.id)) pendingKeys.set(order.id, crypto.randomUUID());
    try {
      await ctx.api.post(`${API}/${order.id}/attempts`, {
        bank: bank.value, passcode,
        return_url: `${location.origin}/app/#/payments/${order.id}`,
      }, { idempotencyKey: pendingKeys.get(order.id) });
      pendingKeys.delete(order.id);
      again();
    } catch (error) {
      // An answer (not a crash, not "still running") ends this key: the next try is new.
      if (error.status && error.status < 500 && error.code !== 'idempotency.in_progress') {
        pendingKeys.delete(order.id);
      }
      pay.disabled = false;
      showError(ctx, form, error);
    }
  });
  return form;
}

/** The bank's page to open, and the wait for its answer (the order polled). */
function pendingBox(ctx, order, again) {
  const attempt = order.attempts.find((a) => a.status === 'pending');
  // The bank's page is a web page: no other scheme (javascript:, data:) is ever a link here.
  const bankPage = attempt && /^https?:\/\//i.test(attempt.redirect_url || '')
    ? attempt.redirect_url : null;
  const box = el('div', { class: 'status warn', id: 'pay-pending', role: 'status' },
    el('p', {}, ctx.t('pending')),
    bankPage
      ? el('a', { href: bankPage, target: '_blank', rel: 'noopener noreferrer',
        class: 'button primary', id: 'pay-bank-page' }, ctx.t('open_bank')) : null,
    el('progress', { 'aria-label': ctx.t('pending') }));
  const started = Date.now();
  const timer = setInterval(async () => {
    if (!box.isConnected || Date.now() - started > POLL_FOR_MS) {
      clearInterval(timer);
      return;
    }
    try {
      const now = await ctx.api.get(`${API}/${order.id}`);
      if (now.status !== 'pending') {
        clearInterval(timer);
        if (now.status === 'paid') ctx.toast(ctx.t('paid_toast'));
        again();
      }
    } catch {
      // a missed poll: the next one tries again
    }
  }, POLL_MS);
  return box;
}

async function receiptBox(ctx, order) {
  const receipt = await ctx.api.get(`${API}/${order.id}/receipt`);
  const qrPlace = el('div', { class: 'receipt-qr', id: 'receipt-qr' });
  const show = el('button', { type: 'button', class: 'primary', id: 'receipt-qr-show' },
    ctx.t('receipt_qr'));
  show.addEventListener('click', async () => {
    const passcode = await ctx.confirmPasscode(ctx.t('receipt_qr_reason'));
    if (passcode === null) return;
    show.disabled = true;
    try {
      const issued = await ctx.api.post(`${API}/${order.id}/receipt/credential`, { passcode });
      const text = el('textarea', { readonly: true, rows: '4', class: 'mono',
        id: 'receipt-qr-text' }, issued.qr);
      const copy = el('button', { type: 'button', id: 'receipt-qr-copy' }, ctx.t('copy'));
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(issued.qr);
          ctx.toast(ctx.t('copied'));
        } catch {
          text.select();
        }
      });
      qrPlace.replaceChildren(qrSvg(issued.qr, { label: ctx.t('receipt_qr') }),
        el('p', { class: 'muted small' }, ctx.t('receipt_qr_until',
          { time: when(issued.expires_at, ctx.lang) })),
        labelled('receipt-qr-text', ctx.t('receipt_qr_text'), text), copy);
      show.hidden = true;
    } catch (error) {
      show.disabled = false;
      qrPlace.replaceChildren(el('p', { class: 'status bad', role: 'alert' },
        ctx.errorText(error)));
    }
  });
  return el('section', { class: 'card', id: 'receipt' }, el('h3', {}, ctx.t('receipt')),
    el('dl', { class: 'pairs' },
      el('dt', {}, ctx.t('amount')), el('dd', {}, money(receipt.amount, ctx.lang)),
      el('dt', {}, ctx.t('paid_at')), el('dd', {}, when(receipt.paid_at, ctx.lang)),
      el('dt', {}, ctx.t('payer')), el('dd', { class: 'mono' }, receipt.payer),
      el('dt', {}, ctx.t('bank')), el('dd', {}, receipt.bank),
      el('dt', {}, ctx.t('treasury')), el('dd', {}, receipt.treasury),
      el('dt', {}, ctx.t('reference')), el('dd', { class: 'mono' }, receipt.attempt_reference)),
    show, qrPlace);
}

async function renderOrder(root, ctx, id) {
  const again = () => {
    root.replaceChildren();
    renderOrder(root, ctx, id).catch((error) => root.append(
      el('p', { class: 'status bad', role: 'alert' }, ctx.errorText(error))));
  };
  const order = await ctx.api.get(`${API}/${encodeURIComponent(id)}`);
  const failed = [...order.attempts].reverse().find((a) => a.status !== 'pending');
  root.append(el('h2', {}, order.description),
    el('section', { class: 'card' }, el('dl', { class: 'pairs' },
      el('dt', {}, ctx.t('status')), el('dd', { id: 'order-status' }, statusBadge(ctx, order.status)),
      el('dt', {}, ctx.t('amount')), el('dd', {}, el('strong', {}, money(order.amount, ctx.lang))),
      el('dt', {}, ctx.t('kind')), el('dd', {}, ctx.t(`kind_${order.kind}`)),
      el('dt', {}, ctx.t('legal_basis')), el('dd', {}, order.legal_basis),
      order.due_date ? [el('dt', {}, ctx.t('due_date')), el('dd', {}, day(order.due_date))]
        : null)));
  if (order.status === 'open' && failed && failed.status !== 'succeeded') {
    root.append(el('p', { class: 'status bad', role: 'alert', id: 'pay-failed' },
      ctx.t('attempt_failed', { bank: failed.bank })));
  }
  if (order.held_refunds.length) {
    root.append(el('p', { class: 'status warn' }, ctx.t('held', { amount: money(
      order.held_refunds.reduce((sum, r) => sum + r.amount, 0), ctx.lang) })));
  }
  if (order.status === 'open') root.append(await payForm(ctx, order, again));
  if (order.status === 'pending') root.append(pendingBox(ctx, order, again));
  if (order.status === 'paid') root.append(await receiptBox(ctx, order));
  root.append(el('section', { class: 'card' }, el('h3', {}, ctx.t('history')),
    el('ol', { class: 'timeline' }, order.history.map((entry) => el('li', {},
      el('div', { class: 'row' }, el('strong', {}, ctx.t(`act_${entry.action}`)),
        statusBadge(ctx, entry.to_state),
        el('time', { class: 'muted small', datetime: entry.occurred_at },
          when(entry.occurred_at, ctx.lang))))))),
  el('a', { href: '#/payments', class: 'button' }, ctx.t('kit_back')));
}

export default {
  id: 'payments',
  path: 'payments',
  nav: true,
  title: { vi: 'Thanh toán', en: 'Payments' },
  strings: withKit({
    vi: {
      st_open: 'Chưa thanh toán', st_pending: 'Đang chờ ngân hàng', st_paid: 'Đã thanh toán',
      st_refunded: 'Đã hoàn tiền', st_held_for_refund: 'Chờ hoàn tiền',
      kind_fee: 'Lệ phí', kind_fine: 'Tiền phạt',
      to_pay: 'Cần thanh toán', nothing_to_pay: 'Không có khoản nào cần thanh toán.',
      done: 'Đã xong', due: 'hạn {date}',
      status: 'Trạng thái', amount: 'Số tiền', kind: 'Loại', legal_basis: 'Căn cứ',
      due_date: 'Hạn nộp', bank: 'Ngân hàng',
      pay: 'Thanh toán {amount}',
      pay_reason: 'Thanh toán {amount}: {what}.',
      pending: 'Đang chờ ngân hàng xác nhận. Mở trang ngân hàng để hoàn tất; trang này tự cập '
        + 'nhật.',
      open_bank: 'Mở trang ngân hàng',
      paid_toast: 'Đã thanh toán.',
      attempt_failed: 'Lần thanh toán qua {bank} không thành công. Bạn có thể thử lại.',
      held: 'Ngân hàng báo số tiền khác với khoản phải nộp; {amount} sẽ được hoàn lại.',
      receipt: 'Biên lai', paid_at: 'Thời gian', payer: 'Người nộp', treasury: 'Nộp vào',
      reference: 'Mã giao dịch',
      receipt_qr: 'Hiện mã QR biên lai',
      receipt_qr_reason: 'Tạo mã QR biên lai có chữ ký để xuất trình.',
      receipt_qr_until: 'Có hiệu lực đến {time}.',
      receipt_qr_text: 'Nội dung mã QR (để dán vào trang kiểm tra)',
      copy: 'Sao chép', copied: 'Đã sao chép.',
      history: 'Quá trình',
      act_create: 'Tạo khoản nộp', act_start_payment: 'Bắt đầu thanh toán',
      act_pay: 'Ngân hàng xác nhận đã trả', act_fail: 'Thanh toán không thành công',
      act_hold: 'Số tiền không khớp, chờ hoàn lại', act_release: 'Đã hoàn lại, nộp lại được',
      act_refund: 'Hoàn tiền',
    },
    en: {
      st_open: 'To pay', st_pending: 'Waiting for the bank', st_paid: 'Paid',
      st_refunded: 'Refunded', st_held_for_refund: 'Held for refund',
      kind_fee: 'Fee', kind_fine: 'Fine',
      to_pay: 'To pay', nothing_to_pay: 'Nothing to pay.',
      done: 'Done', due: 'due {date}',
      status: 'Status', amount: 'Amount', kind: 'Kind', legal_basis: 'Legal basis',
      due_date: 'Due date', bank: 'Bank',
      pay: 'Pay {amount}',
      pay_reason: 'Pay {amount}: {what}.',
      pending: "Waiting for the bank's confirmation. Open the bank's page to finish; this page "
        + 'updates by itself.',
      open_bank: "Open the bank's page",
      paid_toast: 'Paid.',
      attempt_failed: 'The payment through {bank} did not go through. You can try again.',
      held: 'The bank reported another amount; {amount} will be paid back.',
      receipt: 'Receipt', paid_at: 'Paid at', payer: 'Payer', treasury: 'Paid into',
      reference: 'Transaction reference',
      receipt_qr: 'Show the receipt as a QR code',
      receipt_qr_reason: 'Make a signed QR code of the receipt to show.',
      receipt_qr_until: 'Valid until {time}.',
      receipt_qr_text: 'The QR code as text (to paste into the verifier page)',
      copy: 'Copy', copied: 'Copied.',
      history: 'History',
      act_create: 'Order created', act_start_payment: 'Payment started',
      act_pay: 'Paid, confirmed by the bank', act_fail: 'Payment failed',
      act_hold: 'Amount mismatch, held for refund', act_release: 'Paid back, can be paid again',
      act_refund: 'Refunded',
    },
  }),
  async render(root, ctx, params = []) {
    const [id] = params;
    return id ? renderOrder(root, ctx, id) : renderList(root, ctx);
  },
};
