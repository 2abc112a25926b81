// The optimizer's small buffers as the plan, its kernels and the runtime share them: what the
// host writes before a step (hyper) and what it reads back after it (clip). Kept apart from the
// lowering so that a built trainer, which runs plans and never makes one, carries only this.

/** Layout of the `hyper` buffer (f32): what the host writes before each step. */
export const HYPER = { lr: 0, bc1: 1, bc2: 2, floats: 4 } as const;
/**
 * Layout of the `clip` buffer (f32): the reduction writes the norm, the clip factor and whether
 * the norm is not finite (then the update is skipped, as runtime/optim.ts does); the plan copies
 * the loss beside them, so one 16-byte readback tells the host all of a step's results.
 */
export const CLIP = { norm: 0, coef: 1, skip: 2, loss: 3, floats: 4 } as const;
