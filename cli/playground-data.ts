// What `peftc playground` writes into data.js for the page (playground/data.ts reads it): the
// contract between the command and the page, in a file with no Node imports so that both sides,
// the CLI and the browser bundle, can import it.
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
