import { TallyError } from '../../errors.js';

/**
 * CSV as RFC 4180 describes it (quoted fields, doubled quotes, CRLF or LF), plus what spreadsheets
 * expect of files people open: a field that starts like a formula is written with a leading
 * apostrophe, so a username such as `=HYPERLINK(...)` stays text.
 */

/** Rows of fields; blank lines are dropped. A semicolon or tab separator is detected from the first line. */
export function parseCsv(text: string): string[][] {
  return parseCsvRecords(text).map((record) => record.fields);
}

/**
 * The same rows, each with the line of the file it starts on (1 for the first), so a report can
 * point at the line a person sees in an editor even past blank lines and quoted line breaks.
 */
export function parseCsvRecords(text: string): { line: number; fields: string[] }[] {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const firstLine = source.slice(0, source.search(/\r?\n|$/));
  const separator = firstLine.includes(',') ? ',' : firstLine.includes(';') ? ';' : firstLine.includes('\t') ? '\t' : ',';
  const rows: { line: number; fields: string[] }[] = [];
  let row: string[] = [];
  let line = 1;
  let rowLine = 1;
  let field = '';
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    if (row.length > 1 || field.trim() !== '') rows.push({ line: rowLine, fields: row });
    row = [];
    field = '';
  };
  while (i < source.length) {
    const c = source[i];
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      if (c === '\n') line++;
      i++;
      continue;
    }
    if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === separator) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      endRow();
      if (c === '\r' && source[i + 1] === '\n') i++;
      line++;
      rowLine = line;
    } else {
      field += c;
    }
    i++;
  }
  if (quoted) throw new TallyError('FORMAT_INVALID', 'The CSV has a quoted field that never ends.');
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** Whether a field starts as spreadsheets start a formula (`=`, `+`, `-`, `@`, a tab or CR): read as data, it may have been meant as code. */
export function looksLikeFormula(field: string): boolean {
  return FORMULA_START.test(field);
}

function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line (CRLF-terminated, as RFC 4180 has it). */
export function csvLine(fields: readonly (string | number | boolean | null | undefined)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}
