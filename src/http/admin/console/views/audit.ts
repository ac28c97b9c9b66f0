import type { AuditEvent } from '../../../../domain/audit.js';
import type { TallyError } from '../../../../errors.js';
import { query } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import { consolePage, link, pageHead, pager, selectField, table, textField, type Viewer } from './kit.js';
import { auditRows } from './tokens.js';

export interface AuditFilter {
  user?: string;
  actor?: string;
  serial?: string;
  action?: string;
  result?: 'success' | 'failure';
  since?: string;
  until?: string;
}

/** Actions admins look for most; any other name, or a prefix with `*`, can be typed. */
const COMMON_ACTIONS = [
  'token.*',
  'token.distribute',
  'token.assign',
  'token.reissue',
  'token.download',
  'token.unassign',
  'token.delete',
  'token.lost',
  'token.enable',
  'token.disable',
  'token.resync',
  'token.pin.reset',
  'token.import',
  'token.bulk.*',
  'token.request.*',
  'ctkip.activate',
  'auth.*',
  'logon.*',
  'user.*',
  'profile.*',
  'apitoken.*',
  'radius-client.*',
  'authn-agent.*',
  'audit.export',
  'credential.shown',
];

export function auditPage(
  viewer: Viewer,
  data: { events: AuditEvent[]; filter: AuditFilter; more: boolean; before?: number; error?: TallyError },
): Html {
  const f = data.filter;
  const filterQuery = {
    user: f.user,
    actor: f.actor,
    serial: f.serial,
    action: f.action,
    result: f.result,
    since: f.since,
    until: f.until,
  };
  const last = data.events[data.events.length - 1];
  const older = data.more && last ? `${link('audit')}${query({ ...filterQuery, before: last.id })}` : undefined;
  const newest = data.before !== undefined ? `${link('audit')}${query(filterQuery)}` : undefined;
  return consolePage(
    { ...viewer, section: 'audit' },
    {
      title: 'Audit',
      error: data.error,
      body: html`${pageHead('Audit trail', html`<a class="button button-secondary" href="${link('audit', 'export')}${query(filterQuery)}" download>Export CSV</a>`, 'Who did what, to what, when, from where, and how it ended. Newest first.')}
<form method="get" action="${link('audit')}" class="form filters filters-audit" role="search">
  ${textField('serial', 'Token serial', f.serial, { maxlength: 64 })}
  ${textField('user', 'User', f.user, { maxlength: 128, placeholder: 'Events on this user' })}
  ${textField('actor', 'Done by', f.actor, { maxlength: 128, placeholder: 'Admin or API token' })}
  ${textField('action', 'Action', f.action, { maxlength: 64, list: 'audit-actions', placeholder: 'token.* or token.reissue' })}
  <datalist id="audit-actions">${COMMON_ACTIONS.map((action) => html`<option value="${action}"></option>`)}</datalist>
  ${selectField(
    'result',
    'Result',
    [
      { value: '', label: 'Any' },
      { value: 'success', label: 'Success' },
      { value: 'failure', label: 'Failure' },
    ],
    f.result,
  )}
  ${textField('since', 'From', f.since, { type: 'date' })}
  ${textField('until', 'To', f.until, { type: 'date' })}
  <div class="filters-actions"><button type="submit" class="button button-secondary">Filter</button><a href="${link('audit')}">Clear</a></div>
</form>
${table('Audit events', ['When', 'Who', 'Action', 'Target', 'Result', 'Details'], auditRows(data.events), 'No events match.')}
${pager(newest, older)}`,
    },
  );
}
