// Errors a person can act on: each names the problem and the fix, so callers can show
// `message` as is (CLI, Discord) instead of a stack trace from deep inside ORT.

export class ModelError extends Error {
  override readonly name = 'ModelError';
}

export class InputError extends Error {
  override readonly name = 'InputError';
}

export class GenerationAbortedError extends Error {
  override readonly name = 'AbortError';
  constructor(message = 'Generation cancelled') {
    super(message);
  }
}

export function isUserFacingError(err: unknown): err is ModelError | InputError | GenerationAbortedError {
  return err instanceof ModelError || err instanceof InputError || err instanceof GenerationAbortedError;
}
