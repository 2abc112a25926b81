// Node only: runs a synchronous native call with file descriptor 2 pointed at /dev/null.
//
// Dawn writes its notices with fprintf(stderr) from native code ("Warning:
// maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 …" each time
// llvmpipe's adapter is requested; "vkCreateInstance: Found no drivers!" from a Vulkan
// instance without drivers). dawn.node offers no logging callback, and Node has no dup2, so fd
// 2 is swapped by hand: reopen it through /proc/self/fd (a second descriptor of the same pipe or
// terminal), close it, open /dev/null (which takes the lowest free number, 2), call, and swap
// back the same way. Only where that is harmless: on Linux, when stderr is a shell pipe or a
// terminal (a regular file is left alone: a reopened file would not share the offset that
// `2>&1` shares with stdout, and the notices then go to a log, not a screen; a socket, as a Node
// parent's spawn pipes are, cannot be reopened), and only around calls that finish before any
// JavaScript runs again (adapter discovery happens inside them).
import { closeSync, existsSync, fstatSync, openSync } from 'node:fs';

function swappable(): boolean {
  if (process.platform !== 'linux' || !existsSync('/proc/self/fd')) return false;
  try {
    const st = fstatSync(2);
    return st.isFIFO() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

/** `call()` with its native writes to stderr discarded (where that can be done safely). */
export function withStderrSilenced<T>(call: () => T): T {
  if (!swappable()) return call();
  let saved: number;
  try {
    saved = openSync('/proc/self/fd/2', 'w');
  } catch {
    return call(); // e.g. a socket: it cannot be reopened, so it is not touched
  }
  closeSync(2);
  // The lowest free number is 2 unless another thread opened a file in between (none does here).
  const sink = openSync('/dev/null', 'w');
  if (sink !== 2) {
    closeSync(sink);
    closeSync(saved);
    return call();
  }
  try {
    return call();
  } finally {
    closeSync(sink);
    openSync(`/proc/self/fd/${saved}`, 'w'); // takes 2 again
    closeSync(saved);
  }
}
