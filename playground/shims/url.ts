// node:url for the page's bundle: the language server names files by `file:` URIs only when
// their paths are absolute, and the playground's are not (examples/…); should one appear anyway,
// the WHATWG URL class does what Node's helpers do for plain paths.
export function fileURLToPath(url: string | URL): string {
  return decodeURIComponent(new URL(url).pathname);
}

export function pathToFileURL(path: string): URL {
  return new URL(`file://${encodeURI(path)}`);
}
