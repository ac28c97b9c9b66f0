import { looksLikeFormula, parseCsvRecords } from '../core/csv/csv.js';
import { invalidField, invalidInput, isTallyError, TallyError } from '../errors.js';
import type { AssignmentResult } from '../model/vocabulary.js';
import { type Actor, requirePermission } from './actor.js';
import { type AuditEntry, type AuditService, failure } from './audit.js';
import type { DistributionService } from './distribution.js';

/** One row of the file as the report gives it back: the line it starts on (the header is line 1). */
export interface AssignmentRow {
  line: number;
  serial: string;
  username: string;
  /** As the row said it (yes/no), or null when it said nothing (the token keeps its PIN mode as imported). */
  requiresNewPin: boolean | null;
  result: AssignmentResult;
  reason?: string;
}

export interface AssignmentImportReport {
  assigned: number;
  refused: number;
  rows: AssignmentRow[];
}

/** A file larger than this is refused before it is read: 10,000 rows of long serials and usernames fit. */
export const ASSIGNMENT_FILE_MAX_CHARS = 2 * 1024 * 1024;
export const ASSIGNMENT_MAX_ROWS = 10_000;

const COLUMNS = ['serial', 'username', 'requiresNewPin'] as const;
type Column = (typeof COLUMNS)[number];
const COLUMN_LIST = 'serial,username[,requiresNewPin]';
const YES = ['yes', 'true', '1'];
const NO = ['no', 'false', '0'];

/** A header cell as people write it: any case, spaces, dashes or underscores (`Requires New PIN`, `requires_new_pin`). */
function columnOf(name: string): Column | undefined {
  const key = name
    .trim()
    .toLowerCase()
    .replace(/[\s_-]/g, '');
  return COLUMNS.find((column) => column.toLowerCase() === key);
}

function requiresNewPinOf(value: string): boolean | null {
  const word = value.trim().toLowerCase();
  if (word === '') return null;
  if (YES.includes(word)) return true;
  if (NO.includes(word)) return false;
  throw invalidField('requiresNewPin', 'oneOf', { choices: `${[...YES, ...NO].join(', ')} (or empty: as imported)` });
}

/**
 * Migration of assignments (RSA's "serial → user" import): a CSV of `serial,username[,requiresNewPin]`
 * assigns imported tokens to their users in one step. Each row is its own audited change (the
 * ordinary assignment, `token.assign`), so a refused row leaves the others done and the report
 * says, per line, what happened and why; the file as a whole is recorded as `token.assign.import`.
 */
export class AssignmentImportService {
  constructor(
    private readonly distribution: DistributionService,
    private readonly audit: AuditService,
  ) {}

  async importCsv(actor: Actor, text: string): Promise<AssignmentImportReport> {
    const entry: AuditEntry = { action: 'token.assign.import', targetType: 'file' };
    let report: AssignmentImportReport;
    try {
      report = await this.assignRows(actor, text);
    } catch (error) {
      await this.audit.record({ actor, entry: failure(entry, error) });
      throw error;
    }
    // Each row committed with its own event; the summary changes nothing more, so it is recorded on its own.
    await this.audit.record({ actor, entry: { ...entry, details: { assigned: report.assigned, refused: report.refused } } });
    return report;
  }

  private async assignRows(actor: Actor, text: string): Promise<AssignmentImportReport> {
    requirePermission(actor, 'tokens.distribute');
    if (text.length > ASSIGNMENT_FILE_MAX_CHARS)
      throw new TallyError('INPUT_TOO_LARGE', `An assignment file may be at most ${ASSIGNMENT_FILE_MAX_CHARS} characters; split it.`);
    const [headerRecord, ...records] = parseCsvRecords(text);
    const header = headerRecord?.fields;
    if (!header) throw invalidInput('assignmentFileEmpty', { columns: COLUMN_LIST });
    const columns = header.map(columnOf);
    const unknown = header.filter((_, i) => columns[i] === undefined);
    const twice = columns.find((column, i) => column !== undefined && columns.indexOf(column) !== i);
    if (unknown.length || twice)
      throw invalidInput('assignmentFileHeader', {
        columns: COLUMN_LIST,
        names: header.map((name) => `"${name.slice(0, 40)}"`).join(', '),
      });
    for (const name of ['serial', 'username'] as const)
      if (!columns.includes(name)) throw invalidInput('assignmentFileColumnMissing', { name, columns: header.join(',') });
    if (records.length > ASSIGNMENT_MAX_ROWS)
      throw new TallyError('INPUT_TOO_LARGE', `An assignment file may hold at most ${ASSIGNMENT_MAX_ROWS} rows; split it.`);

    const report: AssignmentImportReport = { assigned: 0, refused: 0, rows: [] };
    const firstLineOf = new Map<string, number>();
    for (const { line, fields } of records) {
      // Spreadsheets write empty rows as a line of separators.
      if (fields.every((field) => field.trim() === '')) continue;
      const cell = (column: Column) => {
        const index = columns.indexOf(column);
        return index < 0 ? '' : (fields[index] ?? '');
      };
      const serial = cell('serial').trim().slice(0, 64);
      const username = cell('username').trim().slice(0, 128);
      const row: AssignmentRow = { line, serial, username, requiresNewPin: null, result: 'refused' };
      try {
        if (fields.length > header.length) throw invalidInput('assignmentRowFields', { count: fields.length, columns: header.length });
        for (const column of COLUMNS) if (looksLikeFormula(cell(column).trimStart())) throw invalidField(column, 'cellLooksLikeFormula');
        if (!serial) throw invalidField('serial', 'serialEmpty');
        if (!username) throw invalidField('username', 'usernameEmpty');
        row.requiresNewPin = requiresNewPinOf(cell('requiresNewPin'));
        const first = firstLineOf.get(serial);
        if (first !== undefined) throw invalidField('serial', 'assignmentDuplicateSerial', { serial, line: first });
        firstLineOf.set(serial, line);
        await this.distribution.assign(actor, serial, username, {
          importedOnly: true,
          ...(row.requiresNewPin === null ? {} : { requiresNewPin: row.requiresNewPin }),
        });
        row.result = 'assigned';
        report.assigned++;
      } catch (error) {
        if (!isTallyError(error)) throw error;
        row.reason = error.message;
        report.refused++;
      }
      report.rows.push(row);
    }
    return report;
  }
}
