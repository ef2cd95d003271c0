import type { FieldError } from './errors.js';
import type { Json } from './wire.js';

/** Message component rules Discord enforces, and flattening components for assertions. */

export const ComponentType = {
  ActionRow: 1,
  Button: 2,
  StringSelect: 3,
  TextInput: 4,
  UserSelect: 5,
  RoleSelect: 6,
  MentionableSelect: 7,
  ChannelSelect: 8,
  Section: 9,
  TextDisplay: 10,
  Thumbnail: 11,
  MediaGallery: 12,
  File: 13,
  Separator: 14,
  Container: 17,
  Label: 18,
  FileUpload: 19,
} as const;

const SELECTS: readonly number[] = [3, 5, 6, 7, 8];
const V2_TOP_LEVEL: readonly number[] = [1, 9, 10, 12, 13, 14, 17];
const CONTAINER_CHILDREN: readonly number[] = [1, 9, 10, 12, 13, 14];
export const BUTTON_STYLES = ['', 'Primary', 'Secondary', 'Success', 'Danger', 'Link', 'Premium'] as const;

const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const len = (s: string) => [...s].length;

class Checker {
  readonly errors: FieldError[] = [];
  readonly customIds = new Map<string, string>();
  count = 0;
  textLength = 0;

  err(path: (string | number)[], code: string, message: string) {
    this.errors.push({ path, code, message });
  }

  maxLen(path: (string | number)[], value: unknown, max: number, required = false) {
    if (value === undefined || value === null) {
      if (required) this.err(path, 'BASE_TYPE_REQUIRED', 'This field is required');
      return;
    }
    if (typeof value !== 'string') return this.err(path, 'STRING_TYPE_CONVERT', `Could not interpret "${String(value)}" as string.`);
    if (required && value.length === 0) return this.err(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    if (len(value) > max) this.err(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  }

  customId(path: (string | number)[], value: unknown) {
    this.maxLen(path, value, 100, true);
    if (typeof value !== 'string' || value.length === 0) return;
    const previous = this.customIds.get(value);
    if (previous) {
      this.err(path, 'COMPONENT_CUSTOM_ID_DUPLICATED', `Component custom id cannot be duplicated (also used at ${previous})`);
    } else {
      this.customIds.set(value, path.join('.'));
    }
  }
}

/** Validates a message's `components`; `v2` is whether IS_COMPONENTS_V2 is set. */
export function checkMessageComponents(components: unknown, v2: boolean): FieldError[] {
  const c = new Checker();
  if (!Array.isArray(components)) {
    c.err(['components'], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    return c.errors;
  }
  if (!v2 && components.length > 5) c.err(['components'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
  components.forEach((component, i) => {
    const path = ['components', i];
    if (!isObj(component)) return c.err(path, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    const allowed = v2 ? V2_TOP_LEVEL : [ComponentType.ActionRow];
    if (!allowed.includes(Number(component.type))) {
      return c.err(
        [...path, 'type'],
        'UNION_TYPE_CHOICES',
        v2
          ? `Value of field "type" must be one of (${V2_TOP_LEVEL.join(', ')}).`
          : `Component type ${String(component.type)} is not allowed at top level without the IS_COMPONENTS_V2 flag.`,
      );
    }
    checkComponent(c, component, path, v2);
  });
  if (v2 && c.count > 40) c.err(['components'], 'COMPONENT_MAX_TOTAL_COMPONENTS', 'Messages can have at most 40 components.');
  if (v2 && c.textLength > 4000) {
    c.err(['components'], 'COMPONENT_MAX_TOTAL_TEXT', 'Text display content totals at most 4000 characters.');
  }
  return c.errors;
}

function checkComponent(c: Checker, comp: Json, path: (string | number)[], v2: boolean): void {
  c.count += 1;
  const type = Number(comp.type);
  switch (type) {
    case ComponentType.ActionRow: {
      const children = comp.components;
      if (!Array.isArray(children) || children.length === 0) {
        return c.err([...path, 'components'], 'BASE_TYPE_MIN_LENGTH', 'Must be 1 or more in length.');
      }
      const selects = children.filter((ch) => isObj(ch) && SELECTS.includes(Number(ch.type)));
      if (children.length > 5) c.err([...path, 'components'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
      if (selects.length > 0 && children.length > 1) {
        c.err([...path, 'components'], 'COMPONENT_LAYOUT_WIDTH_EXCEEDED', 'The specified component exceeds the maximum width');
      }
      children.forEach((child, i) => {
        const childPath = [...path, 'components', i];
        if (!isObj(child)) return c.err(childPath, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
        if (Number(child.type) !== ComponentType.Button && !SELECTS.includes(Number(child.type))) {
          return c.err([...childPath, 'type'], 'UNION_TYPE_CHOICES', 'Action rows hold buttons or one select menu.');
        }
        checkComponent(c, child, childPath, v2);
      });
      return;
    }
    case ComponentType.Button:
      return checkButton(c, comp, path);
    case ComponentType.StringSelect:
    case ComponentType.UserSelect:
    case ComponentType.RoleSelect:
    case ComponentType.MentionableSelect:
    case ComponentType.ChannelSelect:
      return checkSelect(c, comp, path, type);
    case ComponentType.Section: {
      const children = comp.components;
      if (!Array.isArray(children) || children.length < 1 || children.length > 3) {
        c.err([...path, 'components'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 3 in length.');
      } else {
        children.forEach((child, i) => {
          if (!isObj(child) || Number(child.type) !== ComponentType.TextDisplay) {
            return c.err([...path, 'components', i, 'type'], 'UNION_TYPE_CHOICES', 'Sections hold text displays.');
          }
          checkComponent(c, child, [...path, 'components', i], v2);
        });
      }
      const accessory = comp.accessory;
      if (!isObj(accessory) || ![ComponentType.Button, ComponentType.Thumbnail].includes(Number(accessory.type) as 2 | 11)) {
        return c.err([...path, 'accessory'], 'BASE_TYPE_REQUIRED', 'A section needs a button or thumbnail accessory.');
      }
      return checkComponent(c, accessory, [...path, 'accessory'], v2);
    }
    case ComponentType.TextDisplay:
      c.maxLen([...path, 'content'], comp.content, 4000, true);
      c.textLength += typeof comp.content === 'string' ? len(comp.content) : 0;
      return;
    case ComponentType.Thumbnail:
      if (!isObj(comp.media) || typeof comp.media.url !== 'string') c.err([...path, 'media', 'url'], 'BASE_TYPE_REQUIRED', 'This field is required');
      return;
    case ComponentType.MediaGallery: {
      const items = comp.items;
      if (!Array.isArray(items) || items.length < 1 || items.length > 10) {
        c.err([...path, 'items'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 10 in length.');
      }
      return;
    }
    case ComponentType.File:
      if (!isObj(comp.file) || !str(comp.file.url)?.startsWith('attachment://')) {
        c.err([...path, 'file', 'url'], 'BASE_TYPE_INVALID', 'File components must reference attachment://<filename>.');
      }
      return;
    case ComponentType.Separator:
      return;
    case ComponentType.Container: {
      const children = comp.components;
      if (!Array.isArray(children)) return c.err([...path, 'components'], 'BASE_TYPE_REQUIRED', 'This field is required');
      children.forEach((child, i) => {
        const childPath = [...path, 'components', i];
        if (!isObj(child) || !CONTAINER_CHILDREN.includes(Number(child.type))) {
          return c.err([...childPath, 'type'], 'UNION_TYPE_CHOICES', 'Component type is not allowed in a container.');
        }
        checkComponent(c, child, childPath, v2);
      });
      return;
    }
    default:
      c.err([...path, 'type'], 'UNION_TYPE_CHOICES', `Component type ${String(comp.type)} is not allowed in messages.`);
  }
}

function checkButton(c: Checker, b: Json, path: (string | number)[]) {
  const style = Number(b.style);
  if (!Number.isInteger(style) || style < 1 || style > 6) {
    return c.err([...path, 'style'], 'BASE_TYPE_CHOICES', 'Value must be one of {1, 2, 3, 4, 5, 6}.');
  }
  c.maxLen([...path, 'label'], b.label, 80);
  if (style === 5) {
    if (typeof b.url !== 'string') c.err([...path, 'url'], 'BASE_TYPE_REQUIRED', 'This field is required');
    if (b.custom_id !== undefined) c.err([...path, 'custom_id'], 'BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED', 'Link buttons cannot have a custom_id.');
  } else if (style === 6) {
    if (typeof b.sku_id !== 'string') c.err([...path, 'sku_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
  } else {
    c.customId([...path, 'custom_id'], b.custom_id);
    if (b.url !== undefined) c.err([...path, 'url'], 'BUTTON_COMPONENT_URL_NOT_ALLOWED', 'Only link buttons can have a url.');
  }
  if (style !== 6 && (b.label === undefined || b.label === '') && !isObj(b.emoji)) {
    c.err([...path, 'label'], 'BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED', 'A button needs a label or an emoji.');
  }
}

function checkSelect(c: Checker, s: Json, path: (string | number)[], type: number) {
  c.customId([...path, 'custom_id'], s.custom_id);
  c.maxLen([...path, 'placeholder'], s.placeholder, 150);
  const min = s.min_values === undefined ? 1 : Number(s.min_values);
  const max = s.max_values === undefined ? 1 : Number(s.max_values);
  if (!(min >= 0 && min <= 25)) c.err([...path, 'min_values'], 'NUMBER_TYPE_MAX', 'int value should be between 0 and 25.');
  if (!(max >= 1 && max <= 25)) c.err([...path, 'max_values'], 'NUMBER_TYPE_MAX', 'int value should be between 1 and 25.');
  if (min > max) c.err([...path, 'min_values'], 'SELECT_COMPONENT_MIN_VALUES_TOO_LARGE', 'min_values exceeds max_values.');
  if (type !== ComponentType.StringSelect) return;
  const options = s.options;
  if (!Array.isArray(options) || options.length < 1 || options.length > 25) {
    return c.err([...path, 'options'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 25 in length.');
  }
  const values = new Set<string>();
  options.forEach((o, i) => {
    const p = [...path, 'options', i];
    if (!isObj(o)) return c.err(p, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    c.maxLen([...p, 'label'], o.label, 100, true);
    c.maxLen([...p, 'value'], o.value, 100, true);
    c.maxLen([...p, 'description'], o.description, 100);
    if (typeof o.value === 'string') {
      if (values.has(o.value)) c.err([...p, 'value'], 'SELECT_COMPONENT_OPTION_VALUE_DUPLICATED', 'Option values must be unique.');
      values.add(o.value);
    }
  });
  if (max > options.length) c.err([...path, 'max_values'], 'SELECT_COMPONENT_MAX_VALUES_TOO_LARGE', 'max_values exceeds the number of options.');
}

/** Validates a modal (interaction callback type 9). */
export function checkModal(data: unknown): FieldError[] {
  const c = new Checker();
  if (!isObj(data)) {
    c.err(['data'], 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    return c.errors;
  }
  c.customId(['data', 'custom_id'], data.custom_id);
  c.maxLen(['data', 'title'], data.title, 45, true);
  const rows = data.components;
  if (!Array.isArray(rows) || rows.length < 1 || rows.length > 5) {
    c.err(['data', 'components'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 5 in length.');
    return c.errors;
  }
  rows.forEach((row, i) => {
    const path = ['data', 'components', i];
    if (!isObj(row)) return c.err(path, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    const inputs =
      Number(row.type) === ComponentType.ActionRow && Array.isArray(row.components)
        ? row.components.map((comp, j): [unknown, (string | number)[]] => [comp, [...path, 'components', j]])
        : Number(row.type) === ComponentType.Label
          ? [[row.component, [...path, 'component']] as [unknown, (string | number)[]]]
          : Number(row.type) === ComponentType.TextDisplay
            ? []
            : undefined;
    if (inputs === undefined) return c.err([...path, 'type'], 'UNION_TYPE_CHOICES', 'Modals hold action rows, labels and text displays.');
    if (Number(row.type) === ComponentType.Label) c.maxLen([...path, 'label'], row.label, 45, true);
    if (Number(row.type) === ComponentType.ActionRow && inputs.length !== 1) {
      c.err([...path, 'components'], 'BASE_TYPE_BAD_LENGTH', 'A modal action row holds exactly one text input.');
    }
    for (const [input, inputPath] of inputs) {
      if (!isObj(input)) {
        c.err(inputPath, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
        continue;
      }
      if (Number(input.type) === ComponentType.TextInput) {
        c.customId([...inputPath, 'custom_id'], input.custom_id);
        if (Number(row.type) === ComponentType.ActionRow) c.maxLen([...inputPath, 'label'], input.label, 45, true);
        if (![1, 2].includes(Number(input.style))) c.err([...inputPath, 'style'], 'BASE_TYPE_CHOICES', 'Value must be one of {1, 2}.');
        c.maxLen([...inputPath, 'value'], input.value, 4000);
        c.maxLen([...inputPath, 'placeholder'], input.placeholder, 100);
      } else if (SELECTS.includes(Number(input.type))) {
        checkSelect(c, input, inputPath, Number(input.type));
      } else if (Number(input.type) === ComponentType.FileUpload && Number(row.type) === ComponentType.Label) {
        // A file upload lives in a label only; 0–10 files.
        c.customId([...inputPath, 'custom_id'], input.custom_id);
        for (const key of ['min_values', 'max_values'] as const) {
          const v = input[key];
          if (v !== undefined && (typeof v !== 'number' || v < 0 || v > 10)) c.err([...inputPath, key], 'NUMBER_TYPE_MAX', 'Must be between 0 and 10.');
        }
      } else {
        c.err([...inputPath, 'type'], 'UNION_TYPE_CHOICES', 'Modals hold text inputs, select menus and (in labels) file uploads.');
      }
    }
  });
  return c.errors;
}

/** Visits every component, nested ones included (rows, sections' accessories, containers). */
export function walkComponents(components: readonly unknown[], visit: (component: Json) => void): void {
  for (const comp of components) {
    if (!isObj(comp)) continue;
    visit(comp);
    if (Array.isArray(comp.components)) walkComponents(comp.components, visit);
    if (isObj(comp.accessory)) walkComponents([comp.accessory], visit);
    if (isObj(comp.component)) walkComponents([comp.component], visit);
  }
}
