import { TallyError } from '../../errors.js';
import { localName, parseStrictXml } from '../xml/strict.js';
import {
  checkContainer,
  checkValueMacs,
  collectKeys,
  isEncrypted,
  outcomeOf,
  type Protection,
  type PskcKeyOutcome,
  type PskcReadOptions,
  readProtection,
} from './read.js';

export interface PskcStreamOptions extends Omit<PskcReadOptions, 'maxBytes'> {
  /** A KeyContainer child (a KeyPackage, the EncryptionKey...) larger than this is refused (INPUT_TOO_LARGE). Default 64 KiB. */
  maxElementBytes?: number;
}

const DEFAULT_MAX_ELEMENT_BYTES = 64 * 1024;

function malformed(message: string): TallyError {
  return new TallyError('FORMAT_INVALID', message);
}

/**
 * Reads a PSKC file of any size one KeyPackage at a time, holding only the package being read:
 * chunks of bytes go in (`push`), the keys of each package that completes come out, read by the
 * same rules as `readPskc` (each KeyPackage is parsed by the strict XML parser inside the
 * container's own start tag, so namespaces and entities are what they are in the file).
 *
 * What differs from reading the whole file, and why: `readPskc` checks every ValueMAC before it
 * returns any key; a stream checks each key's MACs before it returns that key, so a file altered
 * further on stops the reading there (WRONG_PASSWORD or INTEGRITY_CHECK_FAILED thrown), after the
 * keys before it were returned. The EncryptionKey and MACMethod must come before the first
 * KeyPackage, as RFC 6030's schema orders them.
 */
export class PskcStream {
  /** Whether the KeyContainer carries a Signature (it is not checked); known once the stream ends. */
  signed = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly maxElementBytes: number;
  private buffer = '';
  private position = 0;
  /** The names of the open elements, root first. */
  private readonly open: string[] = [];
  /** Where the KeyContainer child being read starts in the buffer. */
  private childStart: number | undefined;
  private rootStartTag = '';
  private rootEndTag = '';
  /** The container's children before the first KeyPackage (EncryptionKey, MACMethod), as text. */
  private readonly preamble: string[] = [];
  private packagesSeen = false;
  private protection: Protection | undefined;
  private keysRead = 0;
  private closed = false;

  constructor(private readonly options: PskcStreamOptions = {}) {
    this.maxElementBytes = options.maxElementBytes ?? DEFAULT_MAX_ELEMENT_BYTES;
  }

  /** Takes the next bytes; returns the keys of the KeyPackages they complete. */
  push(chunk: Uint8Array): PskcKeyOutcome[] {
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      throw malformed('The file is not UTF-8.');
    }
    this.buffer += text;
    return this.scan();
  }

  /** The input is over: returns what is left, or throws when the KeyContainer never closed. */
  end(): PskcKeyOutcome[] {
    this.buffer += this.decoder.decode();
    const outcomes = this.scan();
    if (!this.closed) throw malformed('The file ends before its KeyContainer is closed.');
    if (this.buffer.slice(this.position).trim() !== '') throw malformed('The file has text after its KeyContainer.');
    return outcomes;
  }

  private scan(): PskcKeyOutcome[] {
    const outcomes: PskcKeyOutcome[] = [];
    for (;;) {
      const lt = this.buffer.indexOf('<', this.position);
      const textEnd = lt < 0 ? this.buffer.length : lt;
      if (this.open.length <= 1 && this.buffer.slice(this.position, textEnd).trim() !== '') {
        throw malformed(this.closed ? 'The file has text after its KeyContainer.' : 'The KeyContainer has text between its elements.');
      }
      if (lt < 0) {
        if (this.childStart === undefined) this.position = this.buffer.length;
        break;
      }
      const end = this.markupEnd(lt);
      if (end === undefined) break;
      this.position = end;
      const markup = this.buffer.slice(lt, end);
      if (markup.startsWith('<!--') || markup.startsWith('<?')) continue;
      if (markup.startsWith('<![CDATA[')) {
        if (this.open.length < 2) throw malformed('The KeyContainer has text between its elements.');
        continue;
      }
      if (markup.startsWith('<!')) throw new TallyError('XML_FORBIDDEN_CONSTRUCT');
      const completed = markup.startsWith('</') ? this.close(markup) : this.start(markup, lt);
      if (completed !== undefined) outcomes.push(...this.child(completed));
    }
    this.release();
    const pending = this.childStart === undefined ? 0 : this.buffer.length - this.childStart;
    if (pending > this.maxElementBytes) {
      throw new TallyError('INPUT_TOO_LARGE', `An element of the KeyContainer is larger than ${this.maxElementBytes} bytes.`);
    }
    return outcomes;
  }

  /** Where the markup starting at `lt` ends, or undefined while it is incomplete. */
  private markupEnd(lt: number): number | undefined {
    const rest = (marker: string, from: number) => {
      const at = this.buffer.indexOf(marker, from);
      return at < 0 ? undefined : at + marker.length;
    };
    const head = this.buffer.slice(lt, lt + 9);
    if (head.startsWith('<!--')) return rest('-->', lt + 4);
    if (head.startsWith('<![CDATA[')) return rest(']]>', lt + 9);
    // Too little of it yet to tell a comment or CDATA from a tag.
    if (head.length < 2 || '<![CDATA['.startsWith(head) || '<!--'.startsWith(head)) return undefined;
    if (head.startsWith('<?')) return rest('?>', lt + 2);
    // A tag: `>` ends it unless quoted in an attribute value.
    let quote: string | undefined;
    for (let i = lt + 1; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (quote !== undefined) {
        if (c === quote) quote = undefined;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '>') return i + 1;
    }
    return undefined;
  }

  /** A start tag; returns the child's text when it closes itself at the container's level. */
  private start(tag: string, at: number): string | undefined {
    const name = /^<([^\s/>]+)/.exec(tag)?.[1];
    if (name === undefined) throw malformed('The file has a tag without a name.');
    if (this.closed) throw malformed('The file has more than one root element.');
    const selfClosing = tag.endsWith('/>');
    if (this.open.length === 0) {
      if (selfClosing) throw malformed('The KeyContainer is empty.');
      this.rootStartTag = tag;
      this.rootEndTag = `</${name}>`;
      checkContainer(parseStrictXml(tag + this.rootEndTag, { maxBytes: this.maxElementBytes }));
    } else if (this.open.length === 1) {
      this.childStart = at;
    }
    if (this.open.length > 32) throw malformed('The XML is nested deeper than 32 levels.');
    if (!selfClosing) {
      this.open.push(name);
      return undefined;
    }
    return this.open.length === 1 ? this.takeChild() : undefined;
  }

  private close(tag: string): string | undefined {
    const name = tag.slice(2, -1).trim();
    const expected = this.open.pop();
    if (expected !== name) throw malformed(`The XML closes ${name} where ${expected ?? 'nothing'} is open.`);
    if (this.open.length === 0) this.closed = true;
    return this.open.length === 1 ? this.takeChild() : undefined;
  }

  private takeChild(): string {
    const text = this.buffer.slice(this.childStart, this.position);
    this.childStart = undefined;
    return text;
  }

  /** Drops what has been read, keeping the child being read. */
  private release(): void {
    const keep = this.childStart ?? this.position;
    this.buffer = this.buffer.slice(keep);
    this.position -= keep;
    if (this.childStart !== undefined) this.childStart = 0;
  }

  /** A whole child of the KeyContainer. */
  private child(text: string): PskcKeyOutcome[] {
    const container = checkContainer(parseStrictXml(this.rootStartTag + text + this.rootEndTag, { maxBytes: this.maxElementBytes * 2 }));
    const [element] = container.children;
    const name = element === undefined ? '' : localName(element.name);
    if (name === 'Signature') {
      this.signed = true;
      return [];
    }
    if (name !== 'KeyPackage') {
      if (this.packagesSeen) throw malformed(`The KeyContainer has its ${name} after a KeyPackage; it must come before them.`);
      this.preamble.push(text);
      return [];
    }
    this.packagesSeen = true;
    const keys = collectKeys(container, this.keysRead);
    this.keysRead += keys.length;
    return keys.map((raw) => {
      if (!isEncrypted(raw)) return outcomeOf(raw, undefined);
      this.protection ??= readProtection(
        checkContainer(
          parseStrictXml(this.rootStartTag + this.preamble.join('') + this.rootEndTag, { maxBytes: this.maxElementBytes * 4 }),
        ),
        this.options,
      );
      checkValueMacs([raw], this.protection);
      return outcomeOf(raw, this.protection.cipherKey);
    });
  }
}
