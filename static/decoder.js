// The VAE's decoder in plain JavaScript (float32), read straight from a safetensors file: the page's copy of the
// model's decoder (vae/page_weights.py: float16, some weights in 8 bits with a scale per row), or the model's file.
// window.VAEDecoder.load(spec, onProgress) fetches the header and the decoder tensors (one HTTP Range request, kept
// in Cache Storage), reporting onProgress(bytes so far, of total) as they arrive, and returns
// {decode(z, label) -> Float32Array(784) of pixel probabilities}; the math mirrors vae/model.py.
(() => {
  "use strict";

  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const READERS = {  // safetensors dtype -> [bytes per value, DataView reader] (little-endian)
    F32: [4, (dv, o) => dv.getFloat32(o, true)],
    F16: [2, (dv, o) => half(dv.getUint16(o, true))],
    U8: [1, (dv, o) => dv.getUint8(o)],
    I32: [4, (dv, o) => dv.getInt32(o, true)],
  };
  const SCALE = ".scale";  // an 8-bit tensor's scale per row (vae/page_weights.SCALE_SUFFIX): w = q * scale[row]

  function half(h) {
    // IEEE 754 binary16 -> number (DataView has no getFloat16 in every browser yet).
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    if (exp === 0) return sign * frac * 2 ** -24;
    if (exp === 31) return frac ? NaN : sign * Infinity;
    return sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }

  async function fetchBytes(url, start, end, onProgress, signal) {
    // Bytes [start, end) of a file; a server that ignores Range sends the whole file, which works too.
    const response = await fetch(url, {headers: {Range: `bytes=${start}-${end - 1}`}, signal});
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
    const expected = response.status === 206 ? end - start : Number(response.headers.get("content-length")) || end;
    const buf = onProgress && response.body ? await streamed(response.body, expected, onProgress)
      : await response.arrayBuffer();
    return response.status === 206 ? buf : buf.slice(start, end);
  }

  async function streamed(body, expected, onProgress) {
    // A response body read chunk by chunk, calling onProgress(bytes so far, expected) after each.
    const reader = body.getReader(), chunks = [];
    let got = 0;
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.length;
      onProgress(got, expected);
    }
    const out = new Uint8Array(got);
    chunks.reduce((at, chunk) => (out.set(chunk, at), at + chunk.length), 0);
    return out.buffer;
  }

  async function cachedBytes(spec, start, end, onProgress) {
    // fetchBytes, kept in the browser's Cache Storage under the weights' SHA-256: the browser's HTTP cache
    // does not keep Range responses, and a model's weights should cross the network once. The fetch starts
    // beside the cache lookup, which took 0.2-0.9 s on a busy machine (docs/browser-decoder.md), and is
    // cancelled on a hit; storing the bytes is not waited for either.
    const key = `${spec.url}?sha256=${spec.sha256}&bytes=${start}-${end}`;
    const abort = new AbortController();
    const fetching = fetchBytes(spec.url, start, end, onProgress, abort.signal);
    const cache = await (window.caches ? caches.open("vae-weights").catch(() => null) : null);
    const hit = cache && await cache.match(key).catch(() => null);
    if (hit) {
      abort.abort();
      fetching.catch(() => null);  // its AbortError is expected
      return {buf: await hit.arrayBuffer(), fetched: 0};
    }
    const buf = await fetching;
    if (cache) cache.put(key, new Response(buf.slice(0))).catch(() => null);  // quota full: just refetch next time
    return {buf, fetched: buf.byteLength};
  }

  function parseHeader(buf) {
    // The 8-byte little-endian header length, then the JSON header.
    const dv = new DataView(buf);
    const n = Number(dv.getBigUint64(0, true));
    if (8 + n > buf.byteLength) throw new Error("the weights file's header is cut short");
    return {start: 8 + n, tensors: JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)))};
  }

  function tensor(buf, header, name, base = 0) {
    // One tensor as a Float32Array; `base` is the file offset where `buf` begins.
    const entry = header.tensors[name];
    if (!entry) throw new Error(`the weights file has no tensor ${name}`);
    const [size, read] = READERS[entry.dtype] || [];
    if (!read && entry.dtype !== "I8") throw new Error(`unsupported dtype ${entry.dtype} for ${name}`);
    const [from, to] = entry.data_offsets, offset = header.start + from - base;
    if (offset + to - from > buf.byteLength) throw new Error(`tensor ${name} lies past the bytes fetched`);
    if (entry.dtype === "F32" && LITTLE_ENDIAN) return new Float32Array(buf.slice(offset, offset + to - from));
    if (entry.dtype === "I8") return dequantized(new Int8Array(buf, offset, to - from), tensor(buf, header, name + SCALE, base));
    const dv = new DataView(buf, offset, to - from), out = new Float32Array((to - from) / size);
    for (let i = 0; i < out.length; i++) out[i] = read(dv, i * size);
    return out;
  }

  function dequantized(q, scale) {
    // An 8-bit tensor: q times its row's scale, rounded to float32 as torch's vae/quantize.dequantize_rows does.
    const out = new Float32Array(q.length), row = q.length / scale.length;
    for (let r = 0, i = 0; r < scale.length; r++) for (let end = i + row; i < end; i++) out[i] = q[i] * scale[r];
    return out;
  }

  function linear(w, b, nIn, x, out, relu) {
    // out = w x + b (w is nOut x nIn, row-major as torch stores it), then ReLU if asked.
    for (let o = 0, row = 0; o < out.length; o++, row += nIn) {
      let s = b[o];
      for (let i = 0; i < nIn; i++) s += w[row + i] * x[i];
      out[o] = relu && s < 0 ? 0 : s;
    }
  }

  function transpose(w, nOut, nIn) {
    // A Linear weight (nOut, nIn) -> (nIn, nOut), so that sparseLinear reads one contiguous row per input.
    const out = new Float32Array(w.length);
    for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) out[i * nOut + o] = w[o * nIn + i];
    return out;
  }

  function axpy(v, w, from, out, to, n) {
    // out[to..to+n) += v * w[from..from+n), unrolled by 4 (measured 1.4-1.6x faster in V8).
    let k = 0;
    for (; k + 4 <= n; k += 4) {
      out[to + k] += v * w[from + k];
      out[to + k + 1] += v * w[from + k + 1];
      out[to + k + 2] += v * w[from + k + 2];
      out[to + k + 3] += v * w[from + k + 3];
    }
    for (; k < n; k++) out[to + k] += v * w[from + k];
  }

  function sparseLinear(wt, b, x, out, relu) {
    // out = w x + b from the transposed weight, skipping the inputs a ReLU zeroed (about half).
    const nOut = out.length;
    out.set(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== 0) axpy(x[i], wt, i * nOut, out, 0, nOut);
    if (relu) for (let o = 0; o < nOut; o++) if (out[o] < 0) out[o] = 0;
  }

  function repackTransposed(w, cin, cout, k) {
    // ConvTranspose2d weight (cin, cout, k, k) -> [ky][kx][cin][cout], so the inner loop runs over
    // contiguous output channels (channels-last): about twice as fast as the naive order.
    const out = new Float32Array(w.length);
    for (let ic = 0; ic < cin; ic++)
      for (let oc = 0; oc < cout; oc++)
        for (let t = 0; t < k * k; t++) out[(t * cin + ic) * cout + oc] = w[(ic * cout + oc) * k * k + t];
    return out;
  }

  function convTranspose(x, size, cin, w, b, cout, out) {
    // Stride 2, kernel 4, padding 1 (size -> 2 size), channels-last in and out, then ReLU.
    const osize = 2 * size, live = new Int32Array(cin);
    for (let p = 0; p < osize * osize; p++) out.set(b, p * cout);
    for (let iy = 0; iy < size; iy++) for (let ix = 0; ix < size; ix++) {
      const ibase = (iy * size + ix) * cin;
      let n = 0;
      for (let ic = 0; ic < cin; ic++) if (x[ibase + ic] !== 0) live[n++] = ic;  // a ReLU zeroed the others
      if (n === 0) continue;
      for (let ky = 0; ky < 4; ky++) {
        const oy = 2 * iy - 1 + ky;
        if (oy < 0 || oy >= osize) continue;
        for (let kx = 0; kx < 4; kx++) {
          const ox = 2 * ix - 1 + kx;
          if (ox < 0 || ox >= osize) continue;
          const obase = (oy * osize + ox) * cout, wk = (ky * 4 + kx) * cin;
          for (let j = 0; j < n; j++) axpy(x[ibase + live[j]], w, (wk + live[j]) * cout, out, obase, cout);
        }
      }
    }
    for (let i = 0; i < out.length; i++) if (out[i] < 0) out[i] = 0;
  }

  function conv3x3(x, size, cin, w, b, out) {
    // Conv2d(cin -> 1, kernel 3, padding 1) on a channels-last input; w is torch's (1, cin, 3, 3).
    for (let y = 0; y < size; y++) for (let xx = 0; xx < size; xx++) {
      let s = b[0];
      for (let ky = 0; ky < 3; ky++) {
        const iy = y + ky - 1;
        if (iy < 0 || iy >= size) continue;
        for (let kx = 0; kx < 3; kx++) {
          const ix = xx + kx - 1;
          if (ix < 0 || ix >= size) continue;
          const ibase = (iy * size + ix) * cin, t = ky * 3 + kx;
          for (let ic = 0; ic < cin; ic++) s += x[ibase + ic] * w[ic * 9 + t];
        }
      }
      out[y * size + xx] = s;
    }
  }

  function sigmoid(a) {
    for (let i = 0; i < a.length; i++) a[i] = 1 / (1 + Math.exp(-a[i]));
    return a;
  }

  function withLabel(z, n, numClasses, label, input) {
    // The first n numbers of a code, then the label one-hot (numClasses of them), into `input`.
    input.fill(0);
    for (let i = 0; i < n; i++) input[i] = z[i] || 0;
    if (numClasses) input[n + label] = 1;
    return input;
  }

  function lowerPrior(t, spec) {
    // A two-layer model's z -> p(z1|z) (vae/model.py: VAE.lower_prior): with `spread`, its mean then its
    // log-variance (2 * lower_dim numbers), else its mean alone, where the sliders' z puts the lower layer.
    // dec_prior.2's first lower_dim rows give the mean, the rest the log-variance.
    const w1 = t("dec_prior.0.weight"), b1 = t("dec_prior.0.bias"), w2 = t("dec_prior.2.weight");
    const b2 = t("dec_prior.2.bias");
    const input = new Float32Array(spec.latent_dim + spec.num_classes), hidden = new Float32Array(spec.hidden);
    const both = new Float32Array(2 * spec.lower_dim), mean = both.subarray(0, spec.lower_dim);
    return (z, label, spread) => {
      linear(w1, b1, input.length, withLabel(z, spec.latent_dim, spec.num_classes, label, input), hidden, true);
      linear(w2, b2, spec.hidden, hidden, spread ? both : mean, false);
      return spread ? both : mean;
    };
  }

  function lowerPosterior(t, spec, prior) {
    // A two-layer model's z1 ~ q(z1|x, z): p(z1|z) shifted by enc_lower([h, z]) (vae/model.py: VAE.lower_posterior),
    // from the encoder's features h of a digit, its code z and the noise eps; with KL(q(z1|x, z) || p(z1|z)) in nats
    // (vae/loss.py: gaussian_kl_per_dim, summed).
    const w1 = t("enc_lower.0.weight"), b1 = t("enc_lower.0.bias");
    const w2 = t("enc_lower.2.weight"), b2 = t("enc_lower.2.bias");
    const n = spec.lower_dim, input = new Float32Array(spec.hidden + spec.latent_dim);
    const hidden = new Float32Array(spec.hidden), shift = new Float32Array(2 * n), z1 = new Float32Array(n);
    return (h, z, eps, label) => {
      const p = prior(z, label, true);
      input.set(h);
      for (let i = 0; i < spec.latent_dim; i++) input[spec.hidden + i] = z[i];
      linear(w1, b1, input.length, input, hidden, true);
      linear(w2, b2, spec.hidden, hidden, shift, false);
      let kl = 0;
      for (let i = 0; i < n; i++) {
        const mean = p[i] + shift[i], logvar = p[n + i] + shift[n + i];
        z1[i] = mean + Math.exp(0.5 * logvar) * eps[i];
        kl += 0.5 * (p[n + i] - logvar + (Math.exp(logvar) + (mean - p[i]) ** 2) / Math.exp(p[n + i]) - 1);
      }
      return {z1, kl};
    };
  }

  function ancestral(prior, spec) {
    // A sample from standard-normal draws (latent_dim, then a hierarchy's lower_dim): z = T * draws, then
    // z1 = E[z1|z] + T * sd(z1|z) * draws (vae/latent.py: sample_probs). Returns the code the pixel decoder reads.
    const d = spec.latent_dim, z = new Float32Array(d), z1 = new Float32Array(spec.lower_dim);
    return (draws, temperature, label) => {
      for (let i = 0; i < d; i++) z[i] = temperature * draws[i];
      if (!prior) return z;
      const both = prior(z, label, true);
      const n = z1.length;
      for (let i = 0; i < n; i++) z1[i] = both[i] + temperature * Math.exp(0.5 * both[n + i]) * draws[d + i];
      return z1;
    };
  }

  function build(spec, buf, header) {
    // Decode functions for the spec's architecture (see vae/model.py: _mlp_decoder, _conv_decoder, lower_prior):
    // lowest(code, label) from the code the pixel decoder reads (z1, or z itself); code(z, label) from the sliders'
    // code, a lower layer at its prior mean; sample(draws, T, label) that code drawn (ancestral); and a two-layer
    // model's lower(h, z, eps, label), z1 drawn from q(z1|x, z) (lowerPosterior).
    const t = name => tensor(buf, header, name);
    const bottom = spec.lower_dim || spec.latent_dim;  // the code the pixel decoder reads: z1, or z itself
    const prior = spec.lower_dim ? lowerPrior(t, spec) : null;
    const nIn = bottom + spec.num_classes;
    const w1 = t("dec_hidden.weight"), b1 = t("dec_hidden.bias"), b2 = t("dec_out.0.bias");
    const w2 = transpose(t("dec_out.0.weight"), b2.length, spec.hidden);
    const input = new Float32Array(nIn), hidden = new Float32Array(spec.hidden), dense = new Float32Array(b2.length);
    let drawLower = null;  // made at the first draw: only "How a VAE works" reads enc_lower
    const pixels = lowest => ({lowest, code: (z, label) => lowest(prior ? prior(z, label) : z, label),
                               sample: ancestral(prior, spec),
                               lower: (...args) => (drawLower ||= lowerPosterior(t, spec, prior))(...args)});
    const first = (code, label) => {
      linear(w1, b1, nIn, withLabel(code, bottom, spec.num_classes, label, input), hidden, true);
    };
    if (spec.arch === "mlp") {
      return pixels((code, label) => {
        first(code, label);
        const out = new Float32Array(784);
        sparseLinear(w2, b2, hidden, out, false);
        return sigmoid(out);
      });
    }
    const [c1, c2] = spec.channels;
    const t1 = repackTransposed(t("dec_out.3.weight"), c2, c1, 4), tb1 = t("dec_out.3.bias");
    const t2 = repackTransposed(t("dec_out.5.weight"), c1, c1, 4), tb2 = t("dec_out.5.bias");
    const wc = t("dec_out.7.weight"), bc = t("dec_out.7.bias");
    const h7 = new Float32Array(49 * c2), h14 = new Float32Array(196 * c1), h28 = new Float32Array(784 * c1);
    return pixels((code, label) => {
      first(code, label);
      sparseLinear(w2, b2, hidden, dense, true);
      for (let c = 0; c < c2; c++) for (let p = 0; p < 49; p++) h7[p * c2 + c] = dense[c * 49 + p];  // CHW -> HWC
      convTranspose(h7, 7, c2, t1, tb1, c1, h14);
      convTranspose(h14, 14, c1, t2, tb2, c1, h28);
      const out = new Float32Array(784);
      conv3x3(h28, 28, c1, wc, bc, out);
      return sigmoid(out);
    });
  }

  function checked(spec, label) {
    // A class index the model can take (0 for an unconditional model), else an error.
    if (spec.num_classes && !(label >= 0 && label < spec.num_classes)) throw new Error(`no class ${label}`);
    return label | 0;
  }

  async function load(spec, onProgress) {
    // One model's decoder: {decode(z, label), extras(names), bytes fetched}. spec: webapp/decoder_spec.page_spec.
    const {buf, fetched} = await cachedBytes(spec, 0, spec.bytes, onProgress);
    const header = parseHeader(buf);
    const run = build(spec, buf, header);
    return {
      bytes: fetched,  // 0 when the weights came from the page's cache
      decode(z, label = 0) {
        return run.code(z, checked(spec, label));
      },
      posterior(h, z, eps, label = 0) {
        // A two-layer model's x' for a digit's code z, its lower layer drawn from q(z1|x, z) with noise eps (h: the
        // encoder's features of the digit): {probs, lowerKl}, the lower layer's KL in nats (see lowerPosterior).
        if (!spec.lower_dim) throw new Error("a one-layer model has no lower layer to draw");
        label = checked(spec, label);
        const {z1, kl} = run.lower(h, z, eps, label);
        return {probs: run.lowest(z1, label), lowerKl: kl};
      },
      sample(draws, temperature = 1, label = 0) {
        // One sample of the model from standard-normal draws (latent_dim + lower_dim of them; see ancestral).
        label = checked(spec, label);
        return run.lowest(run.sample(draws, temperature, label), label);
      },
      async extras(names) {
        // Stored extra tensors (the 2-D model's test codes), fetched together in one more Range request.
        const offsets = names.map(n => (header.tensors[n] || {data_offsets: [0, 0]}).data_offsets);
        const from = header.start + Math.min(...offsets.map(o => o[0]));
        const got = await cachedBytes(spec, from, header.start + Math.max(...offsets.map(o => o[1])));
        const extra = got.buf;
        this.bytes += got.fetched;
        return Object.fromEntries(names.map(n => [n, tensor(extra, header, n, from)]));
      },
    };
  }

  async function tensors(file) {
    // Every tensor of a small safetensors file ({url, bytes, sha256}: a stored code map), kept in Cache Storage.
    const {buf} = await cachedBytes(file, 0, file.bytes);
    const header = parseHeader(buf);
    const names = Object.keys(header.tensors).filter(n => n !== "__metadata__");
    return Object.fromEntries(names.map(n => [n, tensor(buf, header, n)]));
  }

  window.VAEDecoder = {load, tensors};
})();
