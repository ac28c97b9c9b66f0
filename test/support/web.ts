import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * A browser for `inject()`: keeps the cookies the app sets, and fills the form token from the
 * last page it read, as a browser submitting that page's form would.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  lastBody = '';

  constructor(
    private readonly app: FastifyInstance,
    private readonly remoteAddress = '127.0.0.1',
    private readonly headers: Record<string, string> = {},
  ) {}

  private remember(response: LightMyRequestResponse): LightMyRequestResponse {
    const setCookie = response.headers['set-cookie'];
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair = '', ...attributes] = line.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      const expired = attributes.some((a) => /^\s*expires=.*1970/i.test(a) || /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    if ((response.headers['content-type'] ?? '').toString().startsWith('text/html')) this.lastBody = response.body;
    return response;
  }

  private cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {};
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    return this.remember(
      await this.app.inject({
        method: 'GET',
        url,
        remoteAddress: this.remoteAddress,
        headers: { accept: 'text/html', ...this.headers, ...this.cookieHeader() },
      }),
    );
  }

  /** Posts a form; `_csrf` comes from the last page read unless the fields give one (or null for none). */
  async post(url: string, fields: Record<string, string | null> = {}): Promise<LightMyRequestResponse> {
    const form = new URLSearchParams();
    const token = '_csrf' in fields ? fields._csrf : formToken(this.lastBody);
    if (token) form.set('_csrf', token);
    for (const [name, value] of Object.entries(fields)) if (name !== '_csrf' && value !== null) form.set(name, value);
    return this.remember(
      await this.app.inject({
        method: 'POST',
        url,
        remoteAddress: this.remoteAddress,
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...this.headers, ...this.cookieHeader() },
        payload: form.toString(),
      }),
    );
  }

  async logOn(username: string, password: string): Promise<LightMyRequestResponse> {
    await this.get('/');
    return this.post('/logon', { username, password });
  }
}

export function formToken(body: string): string | undefined {
  return /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
}

/** The text of a page without its tags, with whitespace collapsed: what a reader sees. */
export function pageText(body: string): string {
  return body
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/\s+/g, ' ')
    .trim();
}
