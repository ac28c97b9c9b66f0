import type { MailTemplateKind } from '../model/vocabulary.js';

/** The variables a mail template may use, each with what it holds (listed beside the editor). */
export const MAIL_VARIABLES = {
  name: "The holder's first name, else their username.",
  username: "The holder's username.",
  issuer: 'The issuer name token apps show (--issuer), which signs the mails.',
  serial: "The token's serial.",
  profile: "The token's profile (empty for a token imported without one).",
  token: 'The token as a mail names it: its serial, and its profile where it has one.',
  consoleUrl: "The Self-Service Console's address.",
  nextSteps: "What the holder does next with the token: the text of a steps template, chosen by the token's delivery and state.",
  expiresOn: 'The day the activation stops working (YYYY-MM-DD).',
  ctkipUrl: 'The CT-KIP URL the token app asks for. Never the activation code: that is shown after log-on, or given by phone.',
  reason: 'Why the request was declined, as the administrator wrote it.',
  admin: 'Who downloaded the file: an administrator’s username, or “API token” and its name.',
  downloadedAt: 'When the file was downloaded (UTC).',
} as const satisfies Record<string, string>;

export type MailVariable = keyof typeof MAIL_VARIABLES;

export interface MailKindDefinition {
  /** What the mail is, as the template list names it. */
  title: string;
  /** When Tally sends it (or, for a part, which mails it goes into). */
  when: string;
  /** Absent for a part of other mails (`steps-*`). */
  subject?: string;
  text: string;
  variables: readonly MailVariable[];
}

const HOLDER: readonly MailVariable[] = ['name', 'username', 'issuer', 'consoleUrl'];
const TOKEN: readonly MailVariable[] = [...HOLDER, 'serial', 'profile', 'token'];
const STEPS: readonly MailVariable[] = [...TOKEN, 'expiresOn'];
const FOOTER = 'If you did not expect this mail, tell your administrator.\n\n-- {{issuer}}\n';

/**
 * What Tally says in each mail unless an administrator changed it. No mail carries an activation
 * code, a password, a seed or a download link (RSA's advice: mail the CT-KIP URL, phone the
 * code): no variable holds one, so no edited template can send one either.
 */
export const MAIL_KINDS: Record<MailTemplateKind, MailKindDefinition> = {
  'token-issued': {
    title: 'A new token',
    when: 'A token was distributed to the holder (by an administrator, a bulk run or their own request).',
    subject: '{{issuer}}: a new token for you',
    text: `Hello {{name}},\n\nA new token has been issued to you ({{token}}).\n\n{{nextSteps}}\n\n${FOOTER}`,
    variables: [...TOKEN, 'nextSteps'],
  },
  'token-reissued': {
    title: 'A token issued again',
    when: 'An administrator reissued the token: what the holder was given for it before stopped working.',
    subject: '{{issuer}}: your token {{serial}} has been issued again',
    text: `Hello {{name}},\n\nYour token ({{token}}) has been issued again. Whatever you were given for it before no longer works.\n\n{{nextSteps}}\n\n${FOOTER}`,
    variables: [...TOKEN, 'nextSteps'],
  },
  'request-approved': {
    title: 'A request approved',
    when: "An administrator approved the holder's request for a token, which was distributed with the approval.",
    subject: '{{issuer}}: your token request has been approved',
    text: `Hello {{name}},\n\nYour request for a token ({{profile}}) has been approved: it is serial {{serial}}.\n\n{{nextSteps}}\n\n${FOOTER}`,
    variables: [...TOKEN, 'nextSteps'],
  },
  'request-declined': {
    title: 'A request declined',
    when: "An administrator declined the holder's request for a token.",
    subject: '{{issuer}}: your token request has been declined',
    text: `Hello {{name}},\n\nYour request for a token ({{profile}}) has been declined.\n\nReason: {{reason}}\n\nIf you have questions, ask your administrator.\n\n${FOOTER}`,
    variables: [...HOLDER, 'profile', 'reason'],
  },
  'token-file-downloaded': {
    title: "A token's file downloaded by an administrator",
    when: "An administrator downloaded the holder's pending token file (Security Console or REST), to hand it over.",
    subject: '{{issuer}}: the file of your token {{serial}} was downloaded',
    text: `Hello {{name}},\n\n{{admin}} downloaded the file of your token ({{token}}) on {{downloadedAt}}. Your administrator gives you the file to import into your token app; the download link in the Self-Service Console no longer works, as a token file can be downloaded only once.\n\nIf you did not expect this, tell your administrator at once: whoever has the file can make your tokencodes.\n\n-- {{issuer}}\n`,
    variables: [...TOKEN, 'admin', 'downloadedAt'],
  },
  'steps-activate': {
    title: 'Next steps: activate in the Self-Service Console',
    when: 'The {{nextSteps}} of a token waiting for its holder to activate it (QR code, CT-KIP, token file).',
    text: 'To set it up, log on to the Self-Service Console and choose Activate:\n\n  {{consoleUrl}}\n\nThe activation is open until {{expiresOn}}.\n',
    variables: STEPS,
  },
  'steps-activate-ctkip-url': {
    title: 'Next steps: activate over CT-KIP, with the URL',
    when: 'The {{nextSteps}} of a CT-KIP token whose profile mails the CT-KIP URL.',
    text: 'To set it up, log on to the Self-Service Console and choose Activate:\n\n  {{consoleUrl}}\n\nThe activation is open until {{expiresOn}}.\n\nYour token app will ask for this CT-KIP URL:\n\n  {{ctkipUrl}}\n\nThe activation code is shown only in the Self-Service Console, after you log on.\n',
    variables: [...STEPS, 'ctkipUrl'],
  },
  'steps-ctf': {
    title: 'Next steps: a CTF string from the administrator',
    when: 'The {{nextSteps}} of a token delivered as a CTF string, which works at once.',
    text: 'It is active already.\n\nYour administrator gives you the token to import into the SecurID app.\n\nYou can see your tokens in the Self-Service Console:\n\n  {{consoleUrl}}\n',
    variables: TOKEN,
  },
  'steps-active': {
    title: 'Next steps: nothing to do',
    when: 'The {{nextSteps}} of a token that works already (an imported token its holder has, or one set up before the mail went).',
    text: 'It is active already.\n\nYou can see your tokens in the Self-Service Console:\n\n  {{consoleUrl}}\n',
    variables: TOKEN,
  },
};
