// One error type for every door; each door writes it in its own shape (src/api/error-shapes.ts):
// OpenAI's {error: {message, type, code}}, A1111's FastAPI-style {detail}, or {error} for the rest.
export interface ApiErrorDetail {
  /** Machine-readable reason (OpenAI's `code`). */
  code?: string;
  /** The request field at fault. */
  param?: string;
  /** Seconds for the Retry-After header (429). */
  retryAfterS?: number;
  /** Installed model names (404 for an unknown model). */
  models?: string[];
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly detail: ApiErrorDetail = {},
  ) {
    super(message);
  }
}
