import { invalidField } from '../../errors.js';

/**
 * Mail templates: plain text with variables written as `{{name}}`. No logic, no nesting, no
 * escapes: what an administrator can read is what is sent. Values are put in one pass, so a value
 * that looks like a variable (a user named `{{serial}}`) stays as it is.
 */

const VARIABLE = /\{\{([A-Za-z][A-Za-z0-9]*)\}\}/g;
/** The example a refusal shows of how a variable is written. */
const EXAMPLE = '{{serial}}';

type Part = { text: string } | { variable: string };

function parse(field: string, template: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  const literal = (text: string) => {
    const stray = /\{\{|\}\}/.exec(text);
    if (stray) {
      const near = text.slice(Math.max(0, stray.index - 10), stray.index + 12).replace(/\s+/g, ' ');
      throw invalidField(field, 'mailTemplateBraces', { near, example: EXAMPLE });
    }
    if (text !== '') parts.push({ text });
  };
  for (const match of template.matchAll(VARIABLE)) {
    literal(template.slice(at, match.index));
    parts.push({ variable: match[1] as string });
    at = match.index + match[0].length;
  }
  literal(template.slice(at));
  return parts;
}

/** The variables a template uses, each once, in the order they first appear; refuses braces that make no variable. */
export function templateVariables(field: string, template: string): string[] {
  const names = parse(field, template).flatMap((part) => ('variable' in part ? [part.variable] : []));
  return [...new Set(names)];
}

/** Refuses a template that uses a variable its mail does not have (saving, not sending, is where a typo shows). */
export function checkTemplate(field: string, template: string, allowed: readonly string[]): void {
  const unknown = templateVariables(field, template).filter((name) => !allowed.includes(name));
  if (unknown.length > 0) {
    throw invalidField(field, 'mailTemplateUnknownVariable', {
      names: unknown.map((name) => `{{${name}}}`).join(', '),
      choices: allowed.map((name) => `{{${name}}}`).join(', '),
    });
  }
}

/**
 * The template with each variable replaced by its value. A variable without a value is a fault of
 * the caller (the template was checked against the variables its mail has), not of the template.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return parse('template', template)
    .map((part) => {
      if ('text' in part) return part.text;
      const value = Object.hasOwn(values, part.variable) ? values[part.variable] : undefined;
      if (value === undefined) throw new Error(`No value for the mail variable ${part.variable}.`);
      return value;
    })
    .join('');
}

/** Line breaks and other control characters, which would end a header line (or hide text in one). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/**
 * A mail header's value as one line: every run of control characters (CR and LF above all) becomes
 * one space, so no value put into a subject can start a header of its own.
 */
export function oneLine(text: string): string {
  return text.replace(CONTROL, ' ').trim();
}

/** Whether a subject as an administrator wrote it is one line without control characters. */
export function isOneLine(text: string): boolean {
  return !new RegExp(CONTROL.source).test(text);
}
