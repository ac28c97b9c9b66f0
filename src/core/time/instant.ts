import { invalidInput, TallyError } from '../../errors.js';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/;

/**
 * An ISO 8601 date (`2026-01-31`, midnight UTC) or date-time with a zone (`2026-01-31T12:00:00Z`,
 * `...+01:00`) as milliseconds since the epoch. A date-time without a zone is refused rather than
 * read in the machine's zone: retention ranges must mean the same on every node. `name` labels the
 * message (`--since`).
 */
export function parseInstant(name: string, text: string): number {
  const date = DATE.exec(text);
  const dateTime = date ? undefined : DATE_TIME.exec(text);
  const parts = date ?? dateTime;
  if (!parts) {
    const zoneless = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text);
    throw new TallyError(
      'VALIDATION_FAILED',
      zoneless
        ? `${name} "${text}" has no time zone: add Z (UTC) or an offset such as +01:00.`
        : `${name} must be an ISO 8601 date (2026-01-31) or date-time with a zone (2026-01-31T12:00:00Z), not "${text.slice(0, 64)}".`,
    );
  }
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const [hour, minute, second] = dateTime ? [Number(dateTime[4]), Number(dateTime[5]), Number(dateTime[6] ?? 0)] : [0, 0, 0];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (
    calendar.getUTCFullYear() !== year ||
    calendar.getUTCMonth() !== month - 1 ||
    calendar.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    throw invalidInput('notARealInstant', { name, text });
  if (date) return calendar.getTime();
  const zone = dateTime?.[8] ?? 'Z';
  const offsetMinutes = /^[Zz]$/.test(zone)
    ? 0
    : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
  const fraction = Math.floor(Number(`0${dateTime?.[7] ?? ''}`) * 1000);
  return Date.UTC(year, month - 1, day, hour, minute, second, fraction) - offsetMinutes * 60_000;
}
