import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import { type SecurIdToken, writeSdtid } from '../../src/core/securid/index.js';
import { tokenType } from '../../src/tokens/registry.js';
import { item } from '../support/items.js';
import { interopTest, runPeer } from '../support/peers.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';
import { readVector, readVectorJson } from '../support/vectors.js';

interface SdtidVector {
  serial: string;
  seed_hex: string;
  digits: number;
  interval: number;
  password: string | null;
  tokencodes: { unix: number; tokencode: string }[];
}

/** An RFC 6030 section 7 signature element, as a signing issuer appends it (its values are not checked). */
const XML_SIGNATURE =
  '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>' +
  '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI=""><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>' +
  '<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>';

const vectors = ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password', 't4-8d-60s-canon'];

function securIdToken(overrides: Partial<SecurIdToken> = {}): SecurIdToken {
  return {
    serial: String(100000000000 + Math.floor(Math.random() * 899999999999)),
    seed: randomBytes(16),
    digits: 8,
    period: 60,
    addPin: false,
    localPin: false,
    expiresOn: '2035-12-31',
    ...overrides,
  };
}

describeEachStore('token import (sdtid)', (getStore) => {
  let tally: TestTally;
  before(async () => {
    tally = await createTestTally(getStore());
  });
  after(async () => tally.close());

  const importJson = (payload: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method: 'POST', url: '/api/v1/tokens/import', headers: bearer(token), payload });
  const tokenCount = async () =>
    Number(
      (
        await getStore()
          .db.selectFrom('tokens')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  test("imports each stoken-made vector file; the seed is sealed and gives stoken's codes", async () => {
    for (const name of vectors) {
      const vector = readVectorJson<SdtidVector>(`securid/${name}.json`);
      const response = await importJson({
        file: Buffer.from(readVector(`securid/${name}.sdtid`)).toString('base64'),
        fileName: `${name}.sdtid`,
        ...(vector.password ? { password: vector.password } : {}),
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(response.json().tokens, [{ serial: vector.serial, tokenType: 'securid', result: 'imported' }]);
      const view = (await tally.admin.inject({ url: `/api/v1/tokens/${vector.serial}`, headers: bearer(tally.tokens.helpdesk) })).json();
      assert.equal(view.state, 'unassigned');
      assert.equal(view.origin, 'imported');
      assert.equal(view.digits, vector.digits);
      assert.equal(view.period, vector.interval);
      assert.doesNotMatch(JSON.stringify(view), new RegExp(vector.seed_hex, 'i'));
      const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', vector.serial).executeTakeFirstOrThrow();
      assert.match(row.seed_sealed ?? '', /^v1\./);
      const material = tally.services.tokens.material(row);
      assert.equal(material.seed.toString('hex'), vector.seed_hex);
      const type = tokenType('securid');
      for (const { unix, tokencode } of vector.tokencodes) {
        assert.equal(type.codeAt(material, Math.floor(unix / vector.interval)), tokencode, `${name} at ${unix}`);
      }
    }
  });

  test('a batch of many tokens imports in one go; existing serials are refused unless replace', async () => {
    const batch = [securIdToken(), securIdToken({ digits: 6, period: 30 }), securIdToken()];
    const file = Buffer.from(writeSdtid(batch, { origin: 'Test', dest: 'Tally', name: 'Batch' })).toString('base64');
    const first = (await importJson({ file })).json();
    assert.equal(first.imported, 3);
    const again = (await importJson({ file })).json();
    assert.equal(again.refused, 3);
    assert.match(again.tokens[0].reason, /exists already/);
    const replaced = (await importJson({ file, replace: true })).json();
    assert.equal(replaced.replaced, 3);
    const audit = (
      await tally.admin.inject({ url: `/api/v1/audit?serial=${item(batch, 1).serial}`, headers: bearer(tally.tokens.superadmin) })
    ).json();
    assert.deepEqual(
      audit.events.map((e: { action: string }) => e.action),
      ['token.replace', 'token.import'],
    );
  });

  test('a PSKC file with an XML signature imports, and the report says the signature was not checked', async () => {
    const key = {
      kind: 'totp' as const,
      id: 'SIGNED-1',
      serial: 'SIGNED-1',
      secret: randomBytes(20),
      digits: 6,
      algorithm: 'SHA1' as const,
      period: 30,
    };
    const unsigned = writePskc([key]);
    const signed = unsigned.replace(/<\/(\w+:)?KeyContainer>\s*$/, (end) => `${XML_SIGNATURE}${end}`);
    assert.notEqual(signed, unsigned);
    const report = (await importJson({ file: Buffer.from(signed).toString('base64') })).json();
    assert.equal(report.imported, 1);
    assert.equal(report.notes.length, 1);
    assert.match(report.notes[0], /XML signature, which Tally does not check/);
    const plain = (await importJson({ file: Buffer.from(unsigned).toString('base64'), replace: true })).json();
    assert.deepEqual({ replaced: plain.replaced, notes: plain.notes }, { replaced: 1, notes: [] });
  });

  test('multipart upload works the same', async () => {
    const token = securIdToken();
    const boundary = `----tally${randomBytes(8).toString('hex')}`;
    const body = [
      `--${boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\nmultipart-pass\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="one.sdtid"\r\nContent-Type: application/xml\r\n\r\n`,
      writeSdtid(token, { password: 'multipart-pass' }),
      `\r\n--${boundary}--\r\n`,
    ].join('');
    const response = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/tokens/import',
      headers: { ...bearer(tally.tokens.superadmin), 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: body,
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().imported, 1);
  });

  test('bad files import nothing and say why', async () => {
    const protectedFile = writeSdtid(securIdToken(), { password: 'right-password' });
    const plain = writeSdtid(securIdToken());
    const flipped = plain.replace(/<TokenMAC>(.)/, (_, c: string) => `<TokenMAC>${c === 'A' ? 'B' : 'A'}`);
    const cases: { file: Buffer; password?: string; code: string; status: number }[] = [
      { file: Buffer.from(protectedFile), code: 'PASSWORD_REQUIRED', status: 400 },
      { file: Buffer.from(protectedFile), password: 'wrong-password', code: 'WRONG_PASSWORD', status: 400 },
      { file: Buffer.from(flipped), code: 'INTEGRITY_CHECK_FAILED', status: 400 },
      { file: Buffer.from(plain.slice(0, plain.length / 2)), code: 'FORMAT_INVALID', status: 400 },
      {
        file: Buffer.from('<?xml version="1.0"?><!DOCTYPE TKNBatch [<!ENTITY x "y">]><TKNBatch>&x;</TKNBatch>'),
        code: 'XML_FORBIDDEN_CONSTRUCT',
        status: 400,
      },
      { file: Buffer.from('hello, not a token file'), code: 'FORMAT_INVALID', status: 400 },
    ];
    const before = await tokenCount();
    for (const c of cases) {
      const response = await importJson({ file: c.file.toString('base64'), ...(c.password ? { password: c.password } : {}) });
      assert.equal(response.statusCode, c.status, response.body);
      assert.equal(response.json().error.code, c.code);
      assert.doesNotMatch(response.body, /right-password|wrong-password/);
    }
    const huge = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/tokens/import',
      headers: { ...bearer(tally.tokens.superadmin), 'content-type': 'application/json' },
      payload: JSON.stringify({ file: 'A'.repeat(50 * 1024 * 1024) }),
    });
    assert.equal(huge.statusCode, 413);
    assert.equal(huge.json().error.code, 'BODY_TOO_LARGE');
    const notBase64 = await importJson({ file: '***' });
    assert.equal(notBase64.json().error.code, 'VALIDATION_FAILED');
    const helpdesk = await importJson({ file: Buffer.from(plain).toString('base64') }, tally.tokens.helpdesk);
    assert.equal(helpdesk.statusCode, 403);
    assert.equal(await tokenCount(), before);
    const failures = (
      await tally.admin.inject({ url: '/api/v1/audit?action=token.import&result=failure', headers: bearer(tally.tokens.superadmin) })
    ).json();
    assert.ok(failures.events.length >= cases.length);
  });

  interopTest('imports what `stoken issue` writes, with and without a password, and agrees on codes', ['stoken'], async () => {
    const home = mkdtempSync(join(tmpdir(), 'tally-stoken-'));
    for (const password of [undefined, 'stoken-pass-1']) {
      const sdtid = runPeer('stoken', ['issue', ...(password ? [`--new-password=${password}`] : [])], {
        env: { ...process.env, HOME: home },
      });
      const file = join(home, 'issued.sdtid');
      writeFileSync(file, sdtid);
      const report = (await importJson({ file: Buffer.from(sdtid).toString('base64'), ...(password ? { password } : {}) })).json();
      assert.equal(report.imported, 1, JSON.stringify(report));
      const serial = report.tokens[0].serial as string;
      const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
      const material = tally.services.tokens.material(row);
      for (const at of [1700000000, 1735689600, 1800000123]) {
        const expected = runPeer(
          'stoken',
          ['tokencode', '--file', file, `--use-time=${at}`, '--pin=0000', '-b', ...(password ? [`--password=${password}`] : [])],
          {
            env: { ...process.env, HOME: home },
          },
        ).trim();
        assert.equal(tokenType('securid').codeAt(material, Math.floor(at / material.settings.period)), expected);
      }
    }
  });
});
