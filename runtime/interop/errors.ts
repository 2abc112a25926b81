// Errors about files exchanged with the PyTorch ecosystem (base checkpoints, adapter folders,
// adapter_config.json): the user's input, printed by the CLI as one line, exit 1.

export class InteropError extends Error {
  override name = 'InteropError';
  constructor(
    message: string,
    /** Each problem on its own, when there are several (the message joins them). */
    readonly problems: string[] = [message],
  ) {
    super(message);
  }

  /** One error for several problems: `what: a; b; c`. */
  static of(what: string, problems: string[]): InteropError {
    return new InteropError(`${what}: ${problems.join('; ')}`, problems);
  }
}

/** `a, b, c, … and 7 more` for lists inside one-line messages. */
export function listSome(items: readonly string[], max = 6): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')}, … and ${items.length - max} more`;
}

export function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}
