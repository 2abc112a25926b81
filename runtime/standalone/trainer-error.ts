// The error of a built trainer's own input: its files are missing, malformed or do not fit
// together, or a flag is wrong. The Node entry prints it as one line and exits 1.

/** A built trainer's files are missing, malformed or do not fit together: one line for the user. */
export class TrainerError extends Error {
  override name = 'TrainerError';
}
