/**
 * How a token read from a file is named in reports. Names come from files and links a person was
 * sent and are printed to terminals and pages, so control characters (escape sequences) are never
 * echoed.
 */

const MAX_NAME_CHARS = 256;

/** Whether a serial or label may be shown: 1 to 256 characters, none of them a control character. */
export function isPrintableSerial(serial: string): boolean {
  return serial.trim() !== '' && serial.length <= MAX_NAME_CHARS && !/[\u0000-\u001f\u007f-\u009f]/.test(serial);
}

export const SERIAL_RULE = `1 to ${MAX_NAME_CHARS} printable characters`;

/**
 * The one labelling rule for a key of a file: its serial, else its Id, where printable; else its
 * position, counted from 1 (`key #3`).
 */
export function keyLabel(key: { serial?: string; id?: string }, index: number): string {
  const named = key.serial ?? key.id;
  return named !== undefined && isPrintableSerial(named) ? named : `key #${index + 1}`;
}
