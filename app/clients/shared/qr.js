// QR codes drawn as SVG with DOM calls (no markup parsed from strings), by the
// vendored uqr encoder. A VN1 text is Base45, so uqr picks the alphanumeric mode.
import { encode } from '../vendor/uqr/dist/index.mjs';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The modules of ``text``'s QR: {size, data: boolean[][]} (border included). */
export function qrModules(text, { ecc = 'M', border = 4 } = {}) {
  return encode(String(text), { ecc, border });
}

/**
 * An <svg> of ``text``'s QR code: one dark path on a light square, scaled by CSS
 * (``shape-rendering: crispEdges`` keeps the edges sharp at any size).
 */
export function qrSvg(text, { ecc = 'M', border = 4, label = '' } = {}) {
  const { size, data } = qrModules(text, { ecc, border });
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  if (label) svg.setAttribute('aria-label', label);
  svg.classList.add('qr');
  const background = document.createElementNS(SVG_NS, 'rect');
  background.setAttribute('width', String(size));
  background.setAttribute('height', String(size));
  background.setAttribute('fill', '#fff');
  const dark = document.createElementNS(SVG_NS, 'path');
  const steps = [];
  for (let row = 0; row < size; row += 1) {
    for (let col = 0; col < size; col += 1) {
      if (data[row][col]) steps.push(`M${col} ${row}h1v1h-1z`);
    }
  }
  dark.setAttribute('d', steps.join(''));
  dark.setAttribute('fill', '#000');
  svg.append(background, dark);
  return svg;
}

/** The same QR as a ``data:image/svg+xml`` URL (for an <img> or a download link). */
export function qrDataUrl(text, options = {}) {
  const svg = qrSvg(text, options);
  svg.setAttribute('xmlns', SVG_NS);
  const markup = new XMLSerializer().serializeToString(svg);
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(markup)}`;
}
