// What `peftc playground` bundles beside the page (data.js sets it on window before the page
// script runs): the example files, the partition view's script and stylesheet, the tiny base's
// weights and the training text. A classic script, so the page works from file:// too.
import type { PlaygroundData } from '../cli/playground-data.ts';

export type { PlaygroundData };

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
