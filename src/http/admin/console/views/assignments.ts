import type { AssignmentImportReport, AssignmentRow } from '../../../../domain/assignment-import.js';
import type { TallyError } from '../../../../errors.js';
import { type Html, html } from '../../../web/html.js';
import { backLink, consolePage, csrf, fileField, link, pageHead, serialLink, table, textArea, userLink, type Viewer } from './kit.js';

export function assignmentsPage(viewer: Viewer, error?: TallyError, csvText?: string): Html {
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Assign tokens from CSV',
      error,
      body: html`${backLink(link('tokens'), 'Tokens')}
${pageHead('Assign tokens from CSV', undefined, 'Imported tokens (migrated SecurID tokens, hardware tokens) to their users in one step: each row is assigned on its own, and the report says what happened to every row.')}
<div class="columns columns-form">
  <form method="post" action="${link('tokens', 'assignments')}" enctype="multipart/form-data" class="card form">
    ${csrf(viewer)}
    ${fileField('file', 'CSV file', { accept: '.csv,text/csv,text/plain' })}
    ${textArea('csv', 'Or paste the CSV', csvText, { rows: 8, maxlength: 2_000_000, placeholder: 'serial,username,requiresNewPin\n000123456789,alice,yes' })}
    <div class="form-actions"><button type="submit" class="button button-primary">Assign</button><a class="button button-secondary" href="${link('tokens')}">Cancel</a></div>
  </form>
  <aside class="card card-note">
    <h2>Columns</h2>
    <dl class="facts facts-stacked">
      <div><dt>serial</dt><dd>Required: an imported token, unassigned.</dd></div>
      <div><dt>username</dt><dd>Required: an existing user.</dd></div>
      <div><dt>requiresNewPin</dt><dd>Optional: yes or no (also true/false, 1/0). Yes: the user sets a PIN at the first authentication. Empty or no: the token stays as imported.</dd></div>
    </dl>
    <p class="hint">The header row is required. Tokens Tally made are distributed when assigned: assign those one by one. At most 10,000 rows.</p>
  </aside>
</div>`,
    },
  );
}

/** Above this many rows, the report lists the refused ones and folds the assigned ones away. */
const REPORT_ROWS_LISTED = 100;

export function assignmentReportPage(viewer: Viewer, report: AssignmentImportReport): Html {
  const headers = ['Line', 'Serial', 'User', 'New PIN', 'Result', 'Reason'];
  const line = (row: AssignmentRow) => {
    const assigned = row.result === 'assigned';
    return html`<tr><td>${row.line}</td><td>${assigned ? serialLink(row.serial) : html`<span class="mono">${row.serial}</span>`}</td><td>${assigned ? userLink(row.username) : row.username}</td><td>${row.requiresNewPin === null ? '' : row.requiresNewPin ? 'Yes' : 'No'}</td><td>${assigned ? html`<span class="badge badge-active">Assigned</span>` : html`<span class="badge badge-failure">Refused</span>`}</td><td>${row.reason ?? ''}</td></tr>`;
  };
  const body =
    report.rows.length <= REPORT_ROWS_LISTED
      ? table('One row per line of the file', headers, report.rows.map(line), 'The file had no rows after its header.')
      : html`<section class="card" aria-labelledby="refused-title">
  <h2 id="refused-title">Refused rows</h2>
  ${table('The rows of the file that were refused', headers, report.rows.filter((row) => row.result !== 'assigned').map(line), 'None: every row was assigned.')}
</section>
<details class="manual">
  <summary>The ${report.assigned} tokens assigned</summary>
  ${table('The rows of the file that were assigned', headers, report.rows.filter((row) => row.result === 'assigned').map(line), 'None.')}
</details>`;
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Assignment report',
      notice: { kind: report.refused ? 'warning' : 'success', text: `${report.assigned} assigned, ${report.refused} refused.` },
      body: html`${pageHead('Assignment report', html`<a class="button button-secondary" href="${link('tokens', 'assignments')}">Assign more</a><a class="button button-primary" href="${link('tokens')}">Tokens</a>`)}
${body}`,
    },
  );
}
