import { z } from 'zod';
import { ApiErrors, invalidForm, type FieldError } from './errors.js';
import type { SnowflakeGenerator } from './snowflake.js';
import type { Json } from './wire.js';
import { fieldErrorsOf } from './zod-errors.js';

/** Application command registration (validated like Discord does) and lookup for dispatching. */

export const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  User: 6,
  Channel: 7,
  Role: 8,
  Mentionable: 9,
  Number: 10,
  Attachment: 11,
} as const;

const NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
/** User and message (context-menu) commands: mixed case and spaces allowed. */
const CONTEXT_MENU_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai} ]{1,32}$/u;
const localizations = z.record(z.string(), z.string()).nullish();

const choiceSchema = z.looseObject({
  name: z.string().min(1).max(100),
  name_localizations: localizations,
  value: z.union([z.string().max(100), z.number()]),
});

interface OptionShape {
  type: number;
  name: string;
  description: string;
  required?: boolean | undefined;
  choices?: z.output<typeof choiceSchema>[] | undefined;
  options?: OptionShape[] | undefined;
  autocomplete?: boolean | undefined;
  min_value?: number | undefined;
  max_value?: number | undefined;
  min_length?: number | undefined;
  max_length?: number | undefined;
  channel_types?: number[] | undefined;
  [key: string]: unknown;
}

const optionSchema: z.ZodType<OptionShape> = z.lazy(() =>
  z.looseObject({
    type: z.number().int().min(1).max(11),
    name: z.string().regex(NAME, 'Invalid application command option name'),
    name_localizations: localizations,
    description: z.string().min(1).max(100),
    description_localizations: localizations,
    required: z.boolean().optional(),
    choices: z.array(choiceSchema).max(25).optional(),
    options: z.array(optionSchema).max(25).optional(),
    channel_types: z.array(z.number().int()).optional(),
    min_value: z.number().optional(),
    max_value: z.number().optional(),
    min_length: z.number().int().min(0).max(6000).optional(),
    max_length: z.number().int().min(1).max(6000).optional(),
    autocomplete: z.boolean().optional(),
  }),
);

const commandSchema = z.looseObject({
  id: z.string().optional(),
  // Checked by type below: context-menu names may have capitals and spaces.
  name: z.string().regex(CONTEXT_MENU_NAME, 'Invalid application command name'),
  name_localizations: localizations,
  description: z.string().max(100).optional(),
  description_localizations: localizations,
  type: z.number().int().min(1).max(4).optional(),
  options: z.array(optionSchema).max(25).optional(),
  default_member_permissions: z.string().regex(/^\d+$/).nullish(),
  dm_permission: z.boolean().nullish(),
  nsfw: z.boolean().optional(),
  integration_types: z.array(z.number().int().min(0).max(1)).optional(),
  contexts: z.array(z.number().int().min(0).max(2)).nullish(),
  handler: z.number().int().optional(),
});

type CommandBody = z.output<typeof commandSchema>;

export interface StoredCommand {
  id: string;
  guildId: string | null;
  version: string;
  name: string;
  type: number;
  description: string;
  options: OptionShape[];
  defaultMemberPermissions: string | null;
  nsfw: boolean;
  contexts: number[] | null;
  json: Json;
}

export interface CommandRegistration {
  method: 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  guildId: string | null;
  names: string[];
  at: number;
}

const GLOBAL = 'global';

function checkOptions(options: readonly OptionShape[], path: (string | number)[], depth: number, errors: FieldError[]) {
  const subs = options.filter((o) => o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup);
  if (subs.length && subs.length !== options.length) {
    errors.push({
      path,
      code: 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID',
      message: 'Sub-command and sub-command group option types are mutually exclusive to all other types',
    });
  }
  let sawOptional = false;
  const names = new Set<string>();
  options.forEach((o, i) => {
    const p = [...path, i];
    if (names.has(o.name)) errors.push({ path: [...p, 'name'], code: 'APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME', message: 'Option names must be unique' });
    names.add(o.name);
    if (o.name !== o.name.toLowerCase()) errors.push({ path: [...p, 'name'], code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
    if (o.required && sawOptional && o.type > 2) {
      errors.push({
        path: [...p, 'required'],
        code: 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
        message: 'Required options must be placed before non-required options',
      });
    }
    if (!o.required) sawOptional = true;
    const takesChoices = o.type === OptionType.String || o.type === OptionType.Integer || o.type === OptionType.Number;
    if (o.choices?.length && !takesChoices)
      errors.push({
        path: [...p, 'choices'],
        code: 'APPLICATION_COMMAND_OPTION_CHOICES_INVALID',
        message: 'Choices are only allowed for string, integer and number options',
      });
    if (o.autocomplete && !takesChoices)
      errors.push({
        path: [...p, 'autocomplete'],
        code: 'APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID',
        message: 'Autocomplete is only allowed for string, integer and number options',
      });
    if (o.autocomplete && o.choices?.length)
      errors.push({
        path: [...p, 'autocomplete'],
        code: 'APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES_EXCLUSIVE',
        message: 'Autocomplete cannot be used with choices',
      });
    for (const [j, c] of (o.choices ?? []).entries()) {
      const ok =
        o.type === OptionType.String
          ? typeof c.value === 'string'
          : typeof c.value === 'number' && (o.type !== OptionType.Integer || Number.isInteger(c.value));
      if (!ok)
        errors.push({
          path: [...p, 'choices', j, 'value'],
          code: 'APPLICATION_COMMAND_OPTION_CHOICE_VALUE_TYPE',
          message: 'Choice value does not match the option type',
        });
    }
    if (o.type === OptionType.SubcommandGroup) {
      if (depth > 0) errors.push({ path: [...p, 'type'], code: 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID', message: 'Sub-command groups cannot be nested' });
      if (!o.options?.length || o.options.some((s) => s.type !== OptionType.Subcommand)) {
        errors.push({ path: [...p, 'options'], code: 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID', message: 'Sub-command groups must contain sub-commands' });
      }
    }
    if (o.type === OptionType.Subcommand && o.options?.some((s) => s.type <= 2)) {
      errors.push({ path: [...p, 'options'], code: 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID', message: 'Sub-commands cannot contain sub-commands' });
    }
    if (o.options) checkOptions(o.options, [...p, 'options'], depth + 1, errors);
  });
}

function commandTextLength(c: CommandBody): number {
  let total = c.name.length + (c.description?.length ?? 0);
  const walk = (options: readonly OptionShape[] | undefined) => {
    for (const o of options ?? []) {
      total += o.name.length + o.description.length;
      for (const ch of o.choices ?? []) total += ch.name.length + String(ch.value).length;
      walk(o.options);
    }
  };
  walk(c.options);
  return total;
}

function validateCommand(data: unknown, path: (string | number)[]): CommandBody {
  const result = commandSchema.safeParse(data);
  if (!result.success) {
    throw invalidForm(fieldErrorsOf(result.error, data).map((e) => ({ ...e, path: [...path, ...e.path] })));
  }
  const c = result.data;
  const errors: FieldError[] = [];
  const type = c.type ?? 1;
  if (type === 1) {
    if (!NAME.test(c.name)) errors.push({ path: [...path, 'name'], code: 'BASE_TYPE_INVALID', message: 'Invalid application command name' });
    else if (c.name !== c.name.toLowerCase())
      errors.push({ path: [...path, 'name'], code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
    if (!c.description) errors.push({ path: [...path, 'description'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
    checkOptions(c.options ?? [], [...path, 'options'], 0, errors);
  } else {
    if (c.description)
      errors.push({
        path: [...path, 'description'],
        code: 'APPLICATION_COMMAND_DESCRIPTION_INVALID',
        message: 'Context menu commands cannot have a description',
      });
    if (c.options?.length)
      errors.push({ path: [...path, 'options'], code: 'APPLICATION_COMMAND_OPTIONS_INVALID', message: 'Context menu commands cannot have options' });
  }
  if (commandTextLength(c) > 4000) errors.push({ path, code: 'APPLICATION_COMMAND_TOO_LARGE', message: 'Command exceeds maximum size (4000)' });
  if (errors.length) throw invalidForm(errors);
  return c;
}

export class CommandStore {
  private readonly scopes = new Map<string, Map<string, StoredCommand>>();
  readonly registrations: CommandRegistration[] = [];

  constructor(
    private readonly applicationId: string,
    private readonly ids: SnowflakeGenerator,
    private readonly now: () => number,
    private readonly notify: () => void,
  ) {}

  private scope(guildId: string | null): Map<string, StoredCommand> {
    const key = guildId ?? GLOBAL;
    let scope = this.scopes.get(key);
    if (!scope) {
      scope = new Map();
      this.scopes.set(key, scope);
    }
    return scope;
  }

  list(guildId: string | null): StoredCommand[] {
    return [...this.scope(guildId).values()];
  }

  get(guildId: string | null, id: string): StoredCommand {
    const command = this.scope(guildId).get(id);
    if (!command) throw ApiErrors.unknownCommand();
    return command;
  }

  /** The command a user would invoke by name in a guild: guild commands shadow global ones. */
  find(name: string, guildId: string, type = 1): StoredCommand | undefined {
    const match = (c: StoredCommand) => c.name === name && c.type === type;
    return this.list(guildId).find(match) ?? this.list(null).find(match);
  }

  bulkOverwrite(guildId: string | null, body: unknown): StoredCommand[] {
    if (!Array.isArray(body)) throw invalidForm([{ path: [], code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' }]);
    const parsed = body.map((c, i) => validateCommand(c, [i]));
    const errors: FieldError[] = [];
    const seen = new Set<string>();
    parsed.forEach((c, i) => {
      const key = `${c.type ?? 1}:${c.name}`;
      if (seen.has(key))
        errors.push({ path: [i, 'name'], code: 'APPLICATION_COMMANDS_DUPLICATE_NAME', message: `Application command names must be unique (${c.name})` });
      seen.add(key);
    });
    const limits: Record<number, number> = { 1: 100, 2: 15, 3: 15, 4: 1 };
    for (const [type, max] of Object.entries(limits)) {
      if (parsed.filter((c) => (c.type ?? 1) === Number(type)).length > max) {
        errors.push({ path: [], code: 'APPLICATION_COMMANDS_TOO_MANY', message: `Maximum number of type ${type} application commands reached (${max})` });
      }
    }
    if (errors.length) throw invalidForm(errors);
    const scope = this.scope(guildId);
    const previous = [...scope.values()];
    scope.clear();
    const stored = parsed.map((c) => {
      const same = previous.find((p) => p.name === c.name && p.type === (c.type ?? 1));
      const command = this.build(guildId, c, same);
      scope.set(command.id, command);
      return command;
    });
    this.record(
      'PUT',
      guildId,
      stored.map((c) => c.name),
    );
    return stored;
  }

  /** POST: creates, or overwrites the command with the same name and type. */
  upsert(guildId: string | null, body: unknown): { command: StoredCommand; created: boolean } {
    const c = validateCommand(body, []);
    const scope = this.scope(guildId);
    const same = [...scope.values()].find((p) => p.name === c.name && p.type === (c.type ?? 1));
    const command = this.build(guildId, c, same);
    scope.set(command.id, command);
    this.record('POST', guildId, [command.name]);
    return { command, created: !same };
  }

  edit(guildId: string | null, id: string, body: unknown): StoredCommand {
    const existing = this.get(guildId, id);
    const merged = { ...existing.json, ...(body && typeof body === 'object' ? body : {}) };
    delete (merged as Json).id;
    const command = this.build(guildId, validateCommand(merged, []), existing);
    this.scope(guildId).set(id, command);
    this.record('PATCH', guildId, [command.name]);
    return command;
  }

  delete(guildId: string | null, id: string): void {
    const command = this.get(guildId, id);
    this.scope(guildId).delete(id);
    this.record('DELETE', guildId, [command.name]);
  }

  private record(method: CommandRegistration['method'], guildId: string | null, names: string[]) {
    this.registrations.push({ method, guildId, names, at: this.now() });
    this.notify();
  }

  private build(guildId: string | null, c: CommandBody, same: StoredCommand | undefined): StoredCommand {
    const id = same?.id ?? this.ids.next();
    const type = c.type ?? 1;
    const version = this.ids.next();
    const json: Json = {
      id,
      application_id: this.applicationId,
      version,
      default_member_permissions: c.default_member_permissions ?? null,
      type,
      name: c.name,
      name_localizations: c.name_localizations ?? null,
      description: c.description ?? '',
      description_localizations: c.description_localizations ?? null,
      ...(guildId ? { guild_id: guildId } : { dm_permission: c.dm_permission ?? true }),
      ...(c.options?.length ? { options: c.options } : {}),
      nsfw: c.nsfw ?? false,
      integration_types: c.integration_types ?? [0],
      contexts: c.contexts ?? null,
    };
    return {
      id,
      guildId,
      version,
      name: c.name,
      type,
      description: c.description ?? '',
      options: c.options ?? [],
      defaultMemberPermissions: c.default_member_permissions ?? null,
      nsfw: c.nsfw ?? false,
      contexts: c.contexts ?? null,
      json,
    };
  }
}

// ---- building the options of a dispatched command, checked like Discord's client does ----

export interface AttachmentInput {
  filename: string;
  bytes: Uint8Array;
  contentType?: string;
  description?: string;
}

/** What a test may pass as an option value. Users, channels, roles: an id or a name. */
export type OptionValueInput = string | number | boolean | AttachmentInput;

export interface OptionResolver {
  user(ref: string): { user: Json; member?: Json } | undefined;
  channel(ref: string): Json | undefined;
  role(ref: string): Json | undefined;
  attachment(input: AttachmentInput): Json;
}

export interface BuiltCommandData {
  options: Json[];
  resolved?: Json;
}

const isAttachmentInput = (v: unknown): v is AttachmentInput => typeof v === 'object' && v !== null && 'filename' in v && 'bytes' in v;

/**
 * Builds `data.options` (+ `resolved`) for `/name sub ...` with `values`, refusing what a
 * Discord user could not send: unknown options, missing required ones, values off the choices.
 * With `focused`, builds an autocomplete payload instead.
 */
export function buildCommandOptions(
  command: StoredCommand,
  subPath: readonly string[],
  values: Readonly<Record<string, OptionValueInput>>,
  resolver: OptionResolver,
  focused?: string,
): BuiltCommandData {
  const label = `/${[command.name, ...subPath].join(' ')}`;
  const resolved: Record<string, Record<string, Json>> = {};
  const addResolved = (kind: string, id: string, value: Json) => {
    resolved[kind] ??= {};
    resolved[kind][id] = value;
  };

  let schema = command.options;
  const wrap: ((inner: Json[]) => Json[])[] = [];
  for (const name of subPath) {
    const sub = schema.find((o) => o.name === name && (o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup));
    if (!sub) throw new Error(`${label}: /${command.name} has no subcommand (group) "${name}"`);
    wrap.push((inner) => [{ type: sub.type, name: sub.name, options: inner }]);
    schema = sub.options ?? [];
  }
  if (schema.some((o) => o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup)) {
    throw new Error(`${label}: pick a subcommand: ${schema.map((o) => o.name).join(', ')}`);
  }
  for (const key of Object.keys(values)) {
    if (!schema.some((o) => o.name === key)) {
      throw new Error(`${label} has no option "${key}" (options: ${schema.map((o) => o.name).join(', ') || 'none'})`);
    }
  }
  if (focused !== undefined) {
    const f = schema.find((o) => o.name === focused);
    if (!f?.autocomplete) throw new Error(`${label}: option "${focused}" does not have autocomplete enabled`);
  }

  const options: Json[] = [];
  for (const o of schema) {
    const value = values[o.name];
    if (value === undefined) {
      if (o.required && focused === undefined) throw new Error(`${label}: required option "${o.name}" is missing`);
      continue;
    }
    if (o.name === focused) {
      options.push({ type: o.type, name: o.name, value: String(value), focused: true });
      continue;
    }
    options.push({ type: o.type, name: o.name, value: convertValue(label, o, value, resolver, addResolved, focused !== undefined) });
  }
  const nested = wrap.reduceRight((inner, w) => w(inner), options);
  return { options: nested, ...(Object.keys(resolved).length ? { resolved } : {}) };
}

function convertValue(
  label: string,
  o: OptionShape,
  value: OptionValueInput,
  resolver: OptionResolver,
  addResolved: (kind: string, id: string, value: Json) => void,
  lenient: boolean,
): string | number | boolean {
  const bad = (why: string) => new Error(`${label}: option "${o.name}" ${why}`);
  const checkChoices = (v: string | number) => {
    if (o.choices?.length && !lenient && !o.choices.some((c) => c.value === v)) {
      throw bad(`must be one of the choices ${JSON.stringify(o.choices.map((c) => c.value))}, got ${JSON.stringify(v)}`);
    }
  };
  switch (o.type) {
    case OptionType.String: {
      if (typeof value !== 'string') throw bad(`expects a string, got ${typeof value}`);
      if (!lenient && o.min_length !== undefined && [...value].length < o.min_length) throw bad(`must be at least ${o.min_length} characters`);
      if (!lenient && [...value].length > (o.max_length ?? 6000)) throw bad(`must be at most ${o.max_length ?? 6000} characters`);
      checkChoices(value);
      return value;
    }
    case OptionType.Integer:
    case OptionType.Number: {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(`expects a number, got ${JSON.stringify(value)}`);
      if (o.type === OptionType.Integer && !Number.isInteger(value)) throw bad(`expects an integer, got ${value}`);
      if (!lenient && o.min_value !== undefined && value < o.min_value) throw bad(`must be >= ${o.min_value}`);
      if (!lenient && o.max_value !== undefined && value > o.max_value) throw bad(`must be <= ${o.max_value}`);
      checkChoices(value);
      return value;
    }
    case OptionType.Boolean:
      if (typeof value !== 'boolean') throw bad(`expects a boolean, got ${typeof value}`);
      return value;
    case OptionType.User:
    case OptionType.Mentionable: {
      if (typeof value !== 'string') throw bad('expects a user id or username');
      const user = resolver.user(value);
      if (user) {
        const id = String(user.user.id);
        addResolved('users', id, user.user);
        if (user.member) addResolved('members', id, user.member);
        return id;
      }
      const role = o.type === OptionType.Mentionable ? resolver.role(value) : undefined;
      if (!role) throw bad(`: unknown user ${JSON.stringify(value)}`);
      addResolved('roles', String(role.id), role);
      return String(role.id);
    }
    case OptionType.Channel: {
      if (typeof value !== 'string') throw bad('expects a channel id or name');
      const channel = resolver.channel(value);
      if (!channel) throw bad(`: unknown channel ${JSON.stringify(value)}`);
      if (o.channel_types?.length && !o.channel_types.includes(Number(channel.type))) throw bad(`does not accept channels of type ${String(channel.type)}`);
      addResolved('channels', String(channel.id), channel);
      return String(channel.id);
    }
    case OptionType.Role: {
      if (typeof value !== 'string') throw bad('expects a role id or name');
      const role = resolver.role(value);
      if (!role) throw bad(`: unknown role ${JSON.stringify(value)}`);
      addResolved('roles', String(role.id), role);
      return String(role.id);
    }
    case OptionType.Attachment: {
      if (!isAttachmentInput(value)) throw bad('expects { filename, bytes, contentType? }');
      const attachment = resolver.attachment(value);
      addResolved('attachments', String(attachment.id), attachment);
      return String(attachment.id);
    }
    default:
      throw bad(`has unsupported type ${o.type}`);
  }
}
