// Reading QR codes: from the camera (the back one on a phone) or from a photo.
// jsQR is a classic script (UMD): loaded once, on first use, as window.jsQR.

const JSQR_SRC = '/clients/vendor/jsqr/dist/jsQR.js';
const MAX_SIDE = 1280; // larger photos are scaled down: jsQR's time grows with the pixels
let loading = null;

/** window.jsQR, loading the vendored script once if the page did not. */
export function loadJsQR() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = JSQR_SRC;
      script.onload = () => (window.jsQR ? resolve(window.jsQR)
        : reject(new Error('jsQR did not load')));
      script.onerror = () => {
        loading = null;
        reject(new Error('jsQR did not load'));
      };
      document.head.append(script);
    });
  }
  return loading;
}

function abortError() {
  return new DOMException('The scan was cancelled', 'AbortError');
}

function decodeCanvas(jsQR, canvas, context, source, width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  const image = context.getImageData(0, 0, canvas.width, canvas.height);
  const found = jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' });
  return found ? found.data : null;
}

/**
 * Scan with the camera into ``videoEl`` until a QR code is read; resolves with its
 * text. The camera is released when done, on error, and when ``signal`` aborts
 * (the promise then rejects with an AbortError).
 */
export async function scanFromCamera(videoEl, { signal, interval = 150 } = {}) {
  if (signal && signal.aborted) throw abortError();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('no camera API (the page needs https or localhost)');
  }
  const jsQR = await loadJsQR();
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { facingMode: { ideal: 'environment' } }, audio: false });
  const stop = () => {
    for (const track of stream.getTracks()) track.stop();
    videoEl.pause();
    videoEl.srcObject = null;
  };
  if (signal && signal.aborted) {
    stop();
    throw abortError();
  }
  videoEl.setAttribute('playsinline', '');
  videoEl.muted = true;
  videoEl.srcObject = stream;
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', { willReadFrequently: true });
  return new Promise((resolve, reject) => {
    let timer = null;
    const finish = (error, text) => {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', onAbort);
      stop();
      if (error) reject(error); else resolve(text);
    };
    const onAbort = () => finish(abortError());
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    const tick = () => {
      try {
        if (videoEl.readyState >= 2 && videoEl.videoWidth > 0) {
          const text = decodeCanvas(jsQR, canvas, context, videoEl,
            videoEl.videoWidth, videoEl.videoHeight);
          if (text) {
            finish(null, text);
            return;
          }
        }
        timer = setTimeout(tick, interval);
      } catch (error) {
        finish(error);
      }
    };
    videoEl.play().then(tick, (error) => finish(error));
  });
}

/** The text of the QR code in an image file (a photo), or null when none is found. */
export async function scanFromImageFile(file) {
  const jsQR = await loadJsQR();
  const bitmap = await createImageBitmap(file);
  try {
    const canvas = document.createElement('canvas');
    const context = canvas.getContext('2d', { willReadFrequently: true });
    return decodeCanvas(jsQR, canvas, context, bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}
