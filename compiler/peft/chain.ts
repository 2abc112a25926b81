// A method's branch as a list of steps: each step takes the previous tensor; a POISON
// (a diagnostic already reported) stops the chain, so one shape error gives one diagnostic.
import type { Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';

export function chain(start: Tensor, steps: readonly ((v: Tensor) => Value)[]): Value {
  let v: Value = start;
  for (const step of steps) {
    if (v.kind !== 'tensor') return POISON;
    v = step(v);
  }
  return v;
}
