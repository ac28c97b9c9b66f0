import { type Html, html } from './html.js';

/** A time as UTC text, which the page script rewrites into the reader's own time zone. */
export function time(iso: string | null, empty = 'Never'): Html {
  if (iso === null) return html`${empty}`;
  const text = `${new Date(iso).toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC' })} UTC`;
  return html`<time datetime="${iso}" data-local>${text}</time>`;
}

/** A calendar day (YYYY-MM-DD, UTC). */
export function day(isoDay: string | null, empty = 'No end date'): Html {
  if (isoDay === null) return html`${empty}`;
  return html`<time datetime="${isoDay}">${new Date(`${isoDay}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })}</time>`;
}

/** A path under a base with each segment encoded: usernames and profile names may hold `@`, spaces or `+`. */
export function path(base: string, ...segments: (string | number)[]): string {
  return [base, ...segments.map((segment) => encodeURIComponent(String(segment)))].join('/');
}

/** A query string of the non-empty values, with its `?`, or nothing. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values))
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}
