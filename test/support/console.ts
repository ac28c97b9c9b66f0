import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { formToken, WebClient } from './web.js';

/** A browser logged on to the Security Console as `username`, from an address of its own. */
export async function consoleClient(app: FastifyInstance, username: string, password: string, address: string): Promise<WebClient> {
  const client = new WebClient(app, address);
  await client.get('/console');
  const response = await client.post('/console/logon', { username, password });
  if (response.statusCode !== 303) throw new Error(`log-on of ${username} answered ${response.statusCode}: ${response.body.slice(0, 200)}`);
  await client.get('/console');
  return client;
}

/**
 * Posts a multipart form (a file upload) as a browser would, with the client's cookies and the form
 * token of the last page it read.
 */
export async function postMultipart(
  app: FastifyInstance,
  client: WebClient,
  url: string,
  fields: Record<string, string>,
  file?: { name: string; content: Buffer | string },
): Promise<LightMyRequestResponse> {
  const boundary = `----tally${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  const all = { _csrf: formToken(client.lastBody) ?? '', ...fields };
  for (const [name, value] of Object.entries(all))
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  if (file) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: application/octet-stream\r\n\r\n`,
      ),
    );
    parts.push(Buffer.from(file.content));
    parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  const cookie = [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  const response = await app.inject({
    method: 'POST',
    url,
    remoteAddress: '127.0.0.1',
    headers: { accept: 'text/html', 'content-type': `multipart/form-data; boundary=${boundary}`, cookie },
    payload: Buffer.concat(parts),
  });
  if ((response.headers['content-type'] ?? '').toString().startsWith('text/html')) client.lastBody = response.body;
  return response;
}
