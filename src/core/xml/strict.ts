import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { TallyError } from '../../errors.js';

/** An element of a parsed document, in document order. Names keep their prefix as written. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text nodes (and CDATA) concatenated, entities decoded, not trimmed. */
  text: string;
}

export interface StrictXmlLimits {
  /** Refuse larger inputs before parsing (bytes of UTF-8). */
  maxBytes?: number;
  /** Refuse documents nested deeper than this. */
  maxDepth?: number;
}

const DEFAULT_LIMITS = { maxBytes: 1_048_576, maxDepth: 32 };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (_whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    const named = NAMED_ENTITIES[ref];
    if (named === undefined) {
      throw new TallyError('FORMAT_INVALID', `The XML uses an undefined entity &${ref};.`);
    }
    return named;
  });
}

type OrderedNode = Record<string, unknown>;

function toElement(node: OrderedNode, depth: number, maxDepth: number): XmlElement | undefined {
  const name = Object.keys(node).find((key) => key !== ':@');
  if (name === undefined || name === '#text') return undefined;
  if (depth > maxDepth) {
    throw new TallyError('FORMAT_INVALID', `The XML is nested deeper than ${maxDepth} levels.`);
  }
  const rawAttributes = (node[':@'] ?? {}) as Record<string, string>;
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(rawAttributes)) attributes[key] = decodeEntities(String(value));
  const element: XmlElement = { name, attributes, children: [], text: '' };
  for (const child of node[name] as OrderedNode[]) {
    if ('#text' in child) element.text += decodeEntities(String(child['#text']));
    else {
      const sub = toElement(child, depth + 1, maxDepth);
      if (sub) element.children.push(sub);
    }
  }
  return element;
}

/**
 * Parses untrusted XML strictly: no DOCTYPE, no entity declarations, bounded size and depth,
 * well-formedness checked first. Returns the root element.
 */
export function parseStrictXml(input: string | Uint8Array, limits: StrictXmlLimits = {}): XmlElement {
  const { maxBytes, maxDepth } = { ...DEFAULT_LIMITS, ...limits };
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > maxBytes) {
    throw new TallyError('INPUT_TOO_LARGE', `The XML is ${size} bytes; at most ${maxBytes} are accepted.`);
  }
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new TallyError('XML_FORBIDDEN_CONSTRUCT');
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new TallyError('FORMAT_INVALID', `The XML is not well-formed: ${valid.err.msg} (line ${valid.err.line}).`);
  }
  const nodes = parser.parse(text) as OrderedNode[];
  const roots = nodes.map((node) => toElement(node, 1, maxDepth)).filter((element): element is XmlElement => element !== undefined);
  const [root, ...others] = roots;
  if (root === undefined || others.length > 0) throw new TallyError('FORMAT_INVALID', 'The XML must have exactly one root element.');
  return root;
}

/** The name without its namespace prefix. */
export function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/** The first child with this local name, if any. */
export function childNamed(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((child) => localName(child.name) === name);
}

/** All children with this local name. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => localName(child.name) === name);
}

/** The first descendant (depth-first, document order) with this local name. */
export function findDescendant(element: XmlElement, name: string): XmlElement | undefined {
  for (const child of element.children) {
    if (localName(child.name) === name) return child;
    const deeper = findDescendant(child, name);
    if (deeper) return deeper;
  }
  return undefined;
}

/** Escapes text for use in XML content or attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
