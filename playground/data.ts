// What `peftc playground` bundles beside the page (data.js sets it on window before the page
// script runs): the example files, the partition view's script and stylesheet, the tiny base's
// weights and the training text. A classic script, so the page works from file:// too.
import type { VizAssets } from '../viz/page-html.ts';

export interface PlaygroundData {
  /** `.peft` files by path (examples/…), the imports they need included. */
  examples: Record<string, string>;
  /** The example opened first. */
  first: string;
  viz: VizAssets;
  /** The base weights (safetensors, base64) and the file they came from. */
  base: { name: string; base64: string };
  /** The training text and where it came from. */
  corpus: { name: string; text: string };
  version: string;
}

export function playgroundData(): PlaygroundData {
  const d = (globalThis as { peftcPlaygroundData?: PlaygroundData }).peftcPlaygroundData;
  if (!d) throw new Error('data.js did not load: keep it beside index.html (rebuild with `peftc playground`)');
  return d;
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
