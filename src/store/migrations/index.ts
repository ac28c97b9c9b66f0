import type { Migration } from 'kysely';
import type { Dialect } from '../connect.js';
import { foundation } from './0001_foundation.js';
import { tokens } from './0002_tokens.js';
import { distribution } from './0003_distribution.js';
import { ctkip } from './0004_ctkip.js';
import { authentication } from './0005_authentication.js';
import { webSessions } from './0006_web_sessions.js';
import { bulkDistributions } from './0007_bulk_distributions.js';
import { webSessionFlash } from './0008_web_session_flash.js';
import { rateLimits } from './0009_rate_limits.js';
import { logonDelays } from './0010_logon_delays.js';
import { tokenLimits } from './0011_token_limits.js';
import { distributionCredentials } from './0012_distribution_credentials.js';
import { auditRequestId } from './0013_audit_request_id.js';
import { periodColumn } from './0014_period_column.js';
import { pinPolicy } from './0015_pin_policy.js';
import { authnApi } from './0016_authn_api.js';
import { authnApiSigning } from './0017_authn_api_signing.js';
import { identitySources } from './0018_identity_sources.js';
import { bulkCredentials } from './0019_bulk_credentials.js';
import { settings } from './0020_settings.js';
import { mailTemplates } from './0021_mail_templates.js';
import { mailOutbox } from './0022_mail_outbox.js';
import { directorySync } from './0023_directory_sync.js';
import { directoryGroups } from './0024_directory_groups.js';
import { listIndexes } from './0025_list_indexes.js';

/** Versioned migrations, in order. Never edit a released one: add the next. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_foundation': foundation(dialect),
    '0002_tokens': tokens(dialect),
    '0003_distribution': distribution(dialect),
    '0004_ctkip': ctkip(dialect),
    '0005_authentication': authentication(dialect),
    '0006_web_sessions': webSessions(dialect),
    '0007_bulk_distributions': bulkDistributions(dialect),
    '0008_web_session_flash': webSessionFlash(dialect),
    '0009_rate_limits': rateLimits(dialect),
    '0010_logon_delays': logonDelays(dialect),
    '0011_token_limits': tokenLimits(dialect),
    '0012_distribution_credentials': distributionCredentials(),
    '0013_audit_request_id': auditRequestId(),
    '0014_period_column': periodColumn(),
    '0015_pin_policy': pinPolicy(),
    '0016_authn_api': authnApi(dialect),
    '0017_authn_api_signing': authnApiSigning(dialect),
    '0018_identity_sources': identitySources(dialect),
    '0019_bulk_credentials': bulkCredentials(dialect),
    '0020_settings': settings(dialect),
    '0021_mail_templates': mailTemplates(dialect),
    '0022_mail_outbox': mailOutbox(dialect),
    '0023_directory_sync': directorySync(dialect),
    '0024_directory_groups': directoryGroups(),
    '0025_list_indexes': listIndexes(dialect),
  };
}

/** The names of this Tally's migrations, in order (the same for both dialects). */
export function migrationNames(): string[] {
  return Object.keys(migrations('sqlite'));
}

/** The name of this Tally's last migration: the schema level it brings a store to. */
export function latestMigration(): string {
  return migrationNames().at(-1) ?? '';
}
