// Every backward rule of the catalog, checked by central finite differences in float64:
// for L(x) = ⟨f(x), g⟩ with a random upstream g, each analytic gradient element must satisfy
// |analytic − fd| / max(1, |fd|) ≤ FD_TOL (1e-6), with fd = (L(x+h) − L(x−h)) / 2h, h = 1e-6.
import { describe, expect, it } from 'vitest';
import { Random } from '../../runtime/cpu/random.ts';
import { randomNormal } from '../../runtime/cpu/tensor.ts';
import { GRAD_CASES } from './grad-cases.ts';
import { FD_TOL, fdCheck } from './helpers.ts';

describe('backward ops agree with central finite differences (f64)', () => {
  for (const c of GRAD_CASES) {
    it(c.name, () => {
      const y = c.forward(c.inputs);
      const g = randomNormal(y.shape, new Random(99));
      const grads = c.backward(c.inputs, g);
      expect(grads.length).toBe(c.wrt.length);
      c.wrt.forEach((w, i) => expect(grads[i]!.shape).toEqual(c.inputs[w]!.shape));
      const r = fdCheck(c.inputs, c.wrt, c.forward, g, grads);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxErr, `worst at input ${r.worst[0]} element ${r.worst[1]}`).toBeLessThanOrEqual(FD_TOL);
    });
  }
});
