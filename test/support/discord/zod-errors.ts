import type { z } from 'zod';
import { invalidForm, type DiscordApiFailure, type FieldError } from './errors.js';

/** Turns zod issues into Discord's "Invalid Form Body" error tree, with Discord's error codes. */

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let node = data;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

const convertCodes: Record<string, [string, (v: unknown) => string]> = {
  string: ['STRING_TYPE_CONVERT', (v) => `Could not interpret "${String(v)}" as string.`],
  number: ['NUMBER_TYPE_COERCE', (v) => `Value "${String(v)}" is not int.`],
  int: ['NUMBER_TYPE_COERCE', (v) => `Value "${String(v)}" is not int.`],
  boolean: ['BOOLEAN_TYPE_CONVERT', (v) => `Could not interpret "${String(v)}" as boolean.`],
  object: ['MODEL_TYPE_CONVERT', () => 'Only dictionaries may be used in a ModelType'],
  array: ['LIST_TYPE_CONVERT', () => 'Only iterables may be used in a ListType'],
};

export function fieldErrorsOf(error: z.ZodError, data: unknown): FieldError[] {
  return error.issues.map((issue): FieldError => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const value = valueAt(data, issue.path);
    switch (issue.code) {
      case 'invalid_type': {
        if (value === undefined) return { path, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' };
        const [code, message] = convertCodes[issue.expected] ?? ['BASE_TYPE_INVALID', () => issue.message];
        return { path, code, message: message(value) };
      }
      case 'too_big':
        return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
          ? { path, code: 'NUMBER_TYPE_MAX', message: `int value should be less than or equal to ${String(issue.maximum)}.` }
          : { path, code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${String(issue.maximum)} or fewer in length.` };
      case 'too_small':
        return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
          ? { path, code: 'NUMBER_TYPE_MIN', message: `int value should be greater than or equal to ${String(issue.minimum)}.` }
          : { path, code: 'BASE_TYPE_MIN_LENGTH', message: `Must be ${String(issue.minimum)} or more in length.` };
      case 'custom': {
        const max = (issue.params as { max?: number } | undefined)?.max;
        return max !== undefined
          ? { path, code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${max} or fewer in length.` }
          : { path, code: 'BASE_TYPE_INVALID', message: issue.message };
      }
      case 'invalid_value':
        return { path, code: 'BASE_TYPE_CHOICES', message: `Value must be one of ${JSON.stringify(issue.values)}.` };
      default:
        return { path, code: 'BASE_TYPE_INVALID', message: issue.message };
    }
  });
}

/** Parses `data` or throws Discord's 400 50035 for it. */
export function parseOrInvalidForm<T extends z.ZodType>(schema: T, data: unknown): z.output<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw invalidForm(fieldErrorsOf(result.error, data)) satisfies DiscordApiFailure;
}
