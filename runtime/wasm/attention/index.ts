// The wasm backend's attention kernels (f32, products on gemmF32); see forward.ts and grads.ts.
export { attention, attentionLse } from './forward.ts';
export { attentionGradK, attentionGradQ, attentionGradV } from './grads.ts';
export { clearWasmAttentionCache } from './cache.ts';
