/**
 * `tally token ...`: a software token for desktops and scripts. Each command reads its input,
 * calls src/client, and prints; the store, formats and CT-KIP exchange live there.
 */
import { readFileSync, type Stats, statSync } from 'node:fs';
import { activateToken, activationTarget } from '../../client/ctkip-http.js';
import { EXPORT_FORMATS, type ExportFormat, exportToken } from '../../client/export.js';
import { type ReadSource, readSource } from '../../client/sources.js';
import { keyFilePath, PASSPHRASE_ENV, readTokenStore, withTokenStore } from '../../client/store-file.js';
import { type ClientToken, expiredOn, fromSecurId, mergeTokens, showCode, summarise } from '../../client/tokens.js';
import { TallyError } from '../../errors.js';
import { MAX_TOKEN_FILE_BYTES } from '../../formats/detect.js';
import { defineCommand, EXIT, type Io, type OptionSpec, UsageError } from '../command.js';

const storeOption: OptionSpec = {
  type: 'string',
  required: true,
  doc: `The token store file. It is created by import and activate; its key is kept in FILE.key beside it, or derived from ${PASSPHRASE_ENV} when that is set at creation.`,
};

const serialOption: OptionSpec = {
  type: 'string',
  doc: 'The token (its serial, or label for OATH tokens); may be left out when the store holds one.',
};

const STORE_NOTE = [
  `The store is JSON sealed with AES-256-GCM, mode 0600. With ${PASSPHRASE_ENV} set when it is created, its key is`,
  'derived from that passphrase (scrypt) and the variable must be set for every later command; otherwise a random',
  'key is kept in FILE.key (mode 0600): back both files up together.',
];

function storePath(options: Record<string, unknown>): string {
  return String(options.store);
}

function listSerials(tokens: readonly ClientToken[]): string {
  return tokens.map((token) => token.serial).join(', ');
}

/** The token named by --serial, or the only one; anything else says what the store holds. */
function selectToken(tokens: readonly ClientToken[], serial: string | undefined, path: string): ClientToken {
  if (serial !== undefined) {
    const token = tokens.find((t) => t.serial === serial);
    if (token) return token;
    const held = tokens.length === 0 ? 'it holds no tokens' : `it holds ${listSerials(tokens)}`;
    throw new TallyError('TOKEN_NOT_FOUND', `There is no token ${serial} in ${path}; ${held}.`);
  }
  const [only, ...others] = tokens;
  if (only === undefined) throw new TallyError('TOKEN_NOT_FOUND', `${path} holds no tokens.`);
  if (others.length === 0) return only;
  throw new UsageError(`${path} holds ${tokens.length} tokens (${listSerials(tokens)}); choose one with --serial.`);
}

/** The core asks for "a password"; on the command line that is a flag. */
function withFlagHint(error: unknown): unknown {
  if (!(error instanceof TallyError) || (error.code !== 'PASSWORD_REQUIRED' && error.code !== 'WRONG_PASSWORD')) return error;
  const flag = error.details?.secret === 'deviceId' ? '--device-id' : '--password';
  return new TallyError(error.code, `${error.message.replace(/\.$/, '')} (${flag}).`, error.details);
}

/** FILE_OR_STRING: `-` is standard input, an existing path is read, anything else is the token string itself. */
async function readImportInput(argument: string, io: Io): Promise<string> {
  if (argument === '-') return io.readStdin();
  let stats: Stats | undefined;
  try {
    stats = statSync(argument);
  } catch {
    stats = undefined;
  }
  if (stats === undefined) {
    // Token strings are links or start with a digit (CTF); anything else was meant as a file name.
    if (!/^([a-z][a-z0-9+.-]*:\/\/|\d)/i.test(argument)) {
      throw new UsageError(`there is no file ${argument}, and it is not a token string (a CTF string or link, or an otpauth URI) either.`);
    }
    return argument;
  }
  if (!stats.isFile()) throw new UsageError(`${argument} is not a file.`);
  if (stats.size > MAX_TOKEN_FILE_BYTES) {
    throw new TallyError('INPUT_TOO_LARGE', `${argument} is ${stats.size} bytes; at most ${MAX_TOKEN_FILE_BYTES} are accepted.`);
  }
  try {
    return readFileSync(argument, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${argument}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}.`);
  }
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}

const tokenActivateCommand = defineCommand({
  name: 'token activate',
  summary: 'Activate a SecurID-compatible token from a CT-KIP server, store it, and print its serial.',
  positionals: [
    { name: 'URL', doc: 'The CT-KIP service URL (https://HOST/ctkip/services/CtkipService) or the app link you were given.' },
    { name: 'ACTIVATION_CODE', doc: 'The activation code; may be left out when the link carries it.', optional: true },
  ],
  settings: [],
  options: { store: storeOption },
  notes: [
    'The seed is derived on both sides and never sent; the token is stored only once the server has proved',
    'it derived the same seed (the CT-KIP MAC). A token already in the store with the same serial is replaced:',
    'the server has issued it anew. Exit code 1 when the server refuses (its reason is shown) or cannot be reached.',
    '',
    ...STORE_NOTE,
    '',
    'Examples:',
    '  tally token activate https://tally.example.com/ctkip/services/CtkipService 123456789012 --store ~/.tally/tokens',
    "  tally token activate 'com.rsa.securid://ctkip?scheme=https&url=tally.example.com:443/ctkip/services/CtkipService&activationCode=123456789012' --store ~/.tally/tokens",
  ],
  async run({ options, positionals, io }) {
    let target: ReturnType<typeof activationTarget>;
    try {
      // biome-ignore lint/style/noNonNullAssertion: URL is a required positional; parseCommandLine refuses a call without it.
      target = activationTarget(positionals[0]!, positionals[1]);
    } catch (error) {
      if (error instanceof TallyError && error.code === 'VALIDATION_FAILED') throw new UsageError(error.message);
      throw error;
    }
    if (target.serviceUrl.startsWith('http:') && !isLoopback(target.serviceUrl)) {
      io.err('tally token activate: warning: the URL is http, so the activation code travels unencrypted.\n');
    }
    const path = storePath(options);
    // The store is opened (and its key checked) before the exchange, which uses up the code.
    const serial = await withTokenStore(path, io.env, { create: true }, async (store) => {
      const activated = fromSecurId(await activateToken(target));
      if (store.tokens.some((token) => token.serial === activated.serial)) {
        io.err(`tally token activate: the token ${activated.serial} that was in the store has been replaced.\n`);
      }
      store.save(mergeTokens(store.tokens, [activated]));
      return activated.serial;
    });
    io.out(`${serial}\n`);
    return EXIT.ok;
  },
});

function reportRefused(source: ReadSource, io: Io): void {
  for (const key of source.refused) io.err(`tally token import: refused ${key.label}: ${key.reason}\n`);
}

const tokenImportCommand = defineCommand({
  name: 'token import',
  summary: 'Import tokens from an sdtid or PSKC file, a CTF string or link, or an otpauth URI, and print their serials.',
  positionals: [
    { name: 'FILE_OR_STRING', doc: 'A file (sdtid, PSKC, or one holding a string below), - for standard input, or the string itself.' },
  ],
  settings: [],
  options: {
    store: storeOption,
    password: { type: 'string', doc: 'The password of the file or CTF string, when it has one.' },
    deviceId: { type: 'string', doc: 'The device ID a CTF string is bound to, when it is bound to one.' },
    replace: { type: 'boolean', doc: 'Overwrite tokens whose serial is in the store already (otherwise nothing is imported).' },
  },
  notes: [
    'The format is recognised from the content. Each imported token is printed on its own line: SecurID tokens',
    'by serial, OATH tokens by their PSKC serial or Id, or their otpauth label (ISSUER:ACCOUNT): that is the',
    'name --serial takes. A file that fails its password or MAC check imports nothing. PSKC keys Tally cannot',
    'use are listed on standard error, the others are imported, and the exit code is 1.',
    'Strings on the command line are visible to other users of the machine; prefer a file or standard input.',
    '',
    ...STORE_NOTE,
    '',
    'Examples:',
    '  tally token import alice.sdtid --password "$SDTID_PASSWORD" --store ~/.tally/tokens',
    "  tally token import 'http://127.0.0.1/securid/ctf?ctfData=2123...' --store ~/.tally/tokens",
    "  echo 'otpauth://totp/ACME:alice?secret=...&issuer=ACME' | tally token import - --store ~/.tally/tokens",
  ],
  async run({ options, positionals, io }) {
    // biome-ignore lint/style/noNonNullAssertion: FILE_OR_STRING is a required positional; parseCommandLine refuses a call without it.
    const input = await readImportInput(positionals[0]!, io);
    let source: ReadSource;
    try {
      source = readSource(input, { password: options.password as string | undefined, deviceId: options.deviceId as string | undefined });
    } catch (error) {
      throw withFlagHint(error);
    }
    reportRefused(source, io);
    if (source.tokens.length === 0) return EXIT.failed;
    await withTokenStore(storePath(options), io.env, { create: true }, async (store) => {
      const incoming = new Set(source.tokens.map((token) => token.serial));
      const clashes = store.tokens.filter((token) => incoming.has(token.serial));
      if (clashes.length > 0 && !options.replace) {
        throw new TallyError(
          'CONFLICT',
          `Already in the store: ${listSerials(clashes)}. Nothing was imported; give --replace to overwrite.`,
        );
      }
      store.save(mergeTokens(store.tokens, source.tokens));
    });
    for (const token of source.tokens) io.out(`${token.serial}\n`);
    return source.refused.length > 0 ? EXIT.failed : EXIT.ok;
  },
});

function unixSeconds(value: unknown): number {
  if (value === undefined) return Math.floor(Date.now() / 1000);
  if (typeof value !== 'string' || !/^\d{1,12}$/.test(value)) {
    throw new UsageError(`--at must be a whole number of unix seconds (got "${String(value)}").`);
  }
  return Number(value);
}

const tokenCodeCommand = defineCommand({
  name: 'token code',
  summary: 'Print the current tokencode of a stored token, or the passcode with --pin.',
  settings: [],
  options: {
    store: storeOption,
    serial: serialOption,
    pin: { type: 'string', doc: 'Your PIN (4 to 8 digits): prints the passcode to type instead of the tokencode.' },
    at: { type: 'string', doc: 'Compute the code for this time (unix seconds) instead of now.' },
  },
  notes: [
    'With --pin: SecurID tokens that add the PIN (AddPIN) print the tokencode with the PIN added digit by digit,',
    'modulo 10; every other token prints the PIN followed by the code, as it is typed at a log-on prompt.',
    'HOTP tokens print the code for the stored counter and move the counter on; --at does not apply to them.',
    '',
    'Examples:',
    '  tally token code --store ~/.tally/tokens',
    '  tally token code --store ~/.tally/tokens --serial 000123456789 --pin 1234',
    '  tally token code --store ~/.tally/tokens --at 1700000000',
  ],
  async run({ options, io }) {
    const path = storePath(options);
    const at = unixSeconds(options.at);
    const pin = options.pin as string | undefined;
    const serial = options.serial as string | undefined;
    const token = selectToken(readTokenStore(path, io.env), serial, path);
    const expired = expiredOn(token, at);
    if (expired) io.err(`tally token code: warning: token ${token.serial} expired on ${expired}; servers may refuse its codes.\n`);
    if (token.type !== 'hotp') {
      io.out(`${showCode(token, at, pin).code}\n`);
      return EXIT.ok;
    }
    // The counter moves on in the store before the code is shown, so a code is never shown twice.
    const code = await withTokenStore(path, io.env, { create: false }, async (store) => {
      const current = selectToken(store.tokens, token.serial, path);
      const shown = showCode(current, at, pin);
      store.save(mergeTokens(store.tokens, shown.advanced ? [shown.advanced] : []));
      return shown.code;
    });
    io.out(`${code}\n`);
    return EXIT.ok;
  },
});

const tokenExportCommand = defineCommand({
  name: 'token export',
  summary: 'Write a stored token to standard output as sdtid, CTF, otpauth or PSKC.',
  settings: [],
  options: {
    store: storeOption,
    serial: serialOption,
    format: { type: 'string', required: true, choices: EXPORT_FORMATS, doc: 'The output format.' },
    password: { type: 'string', doc: 'Protect the output with this password (sdtid, ctf, ctf-v3, pskc).' },
  },
  notes: [
    'SecurID tokens: sdtid (a token file), ctf (the bare 81-digit string), ctf-v3 (the v3 string in the',
    '  http://127.0.0.1/securid/ctf?ctfData= link, as stoken and the Android app take it), pskc.',
    'TOTP and HOTP tokens: otpauth (the URI authenticator apps scan), pskc.',
    'The output carries the seed: keep it as safe as the token itself.',
    '',
    'Examples:',
    '  tally token export --store ~/.tally/tokens --serial 000123456789 --format sdtid --password "$FILE_PASSWORD" > token.sdtid',
    "  tally token export --store ~/.tally/tokens --serial 'ACME:alice' --format otpauth",
  ],
  async run({ options, io }) {
    const path = storePath(options);
    const token = selectToken(readTokenStore(path, io.env), options.serial as string | undefined, path);
    io.out(exportToken(token, options.format as ExportFormat, { password: options.password as string | undefined }));
    return EXIT.ok;
  },
});

function table(rows: string[][]): string {
  const [header = []] = rows;
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

const tokenListCommand = defineCommand({
  name: 'token list',
  summary: 'List the stored tokens: serial, type, digits, interval and expiry (never the seed).',
  settings: [],
  options: {
    store: storeOption,
    json: { type: 'boolean', doc: 'Print a JSON array.' },
  },
  notes: ['Examples:', '  tally token list --store ~/.tally/tokens', '  tally token list --store ~/.tally/tokens --json'],
  async run({ options, io }) {
    const summaries = readTokenStore(storePath(options), io.env).map(summarise);
    if (options.json) {
      io.out(`${JSON.stringify(summaries, null, 2)}\n`);
      return EXIT.ok;
    }
    if (summaries.length === 0) return EXIT.ok;
    const rows = summaries.map((s) => [
      s.serial,
      s.type,
      String(s.digits),
      s.period === null ? `counter ${s.counter}` : `${s.period} s`,
      s.expiresOn ?? '-',
    ]);
    io.out(table([['SERIAL', 'TYPE', 'DIGITS', 'INTERVAL', 'EXPIRES'], ...rows]));
    return EXIT.ok;
  },
});

const tokenRemoveCommand = defineCommand({
  name: 'token remove',
  summary: 'Remove a token from the store and print its serial.',
  settings: [],
  options: {
    store: storeOption,
    serial: { type: 'string', required: true, doc: 'The token to remove.' },
  },
  notes: [
    `The seed is gone for good unless you have an export or a backup of the store and ${keyFilePath('FILE')}.`,
    'Example: tally token remove --store ~/.tally/tokens --serial 000123456789',
  ],
  async run({ options, io }) {
    const path = storePath(options);
    const serial = String(options.serial);
    await withTokenStore(path, io.env, { create: false }, async (store) => {
      selectToken(store.tokens, serial, path);
      store.save(store.tokens.filter((token) => token.serial !== serial));
    });
    io.out(`${serial}\n`);
    return EXIT.ok;
  },
});

export const tokenCommands = [
  tokenActivateCommand,
  tokenImportCommand,
  tokenCodeCommand,
  tokenExportCommand,
  tokenListCommand,
  tokenRemoveCommand,
];
