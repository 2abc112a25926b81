// PlanError: a training step that cannot be planned for the adapter's limits (a tensor over one
// binding that no split applies to, a buffer over maxBufferSize), said with the tensor and sizes.
export class PlanError extends Error {
  override name = 'PlanError';
}
