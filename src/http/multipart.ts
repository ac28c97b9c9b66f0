import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidInput, isTallyError, TallyError } from '../errors.js';

/**
 * File uploads (token files, user CSV lists), in one place: multipart/form-data is parsed only in
 * the scope `uploadRoutes` makes, so every other route answers it 415 (UNSUPPORTED_MEDIA_TYPE)
 * without reading a byte of it; the parts are read by the route's own step after the session
 * (onRequest) and, in the consoles, the form token, which must be the form's first part: no file is
 * read before it is checked. Limits answer 413 (INPUT_TOO_LARGE), a malformed body 400; the error
 * never carries the part (fastify's own errors do, and would be logged whole).
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An upload route of a console: the form token comes as the first part, checked by `readMultipart`. */
    formTokenInParts?: boolean;
  }
}

export interface UploadedFile {
  fileName: string;
  content: Buffer;
}

/** A multipart form as routes see it: its text fields, and the one file if one was chosen. */
export type MultipartForm = Record<string, string | undefined> & { file?: UploadedFile };

export interface UploadLimits {
  /** The one file part's size. */
  fileBytes: number;
  /** Text fields (the form token counts). */
  fields: number;
  fieldBytes: number;
}

/** Routes that take files, in a scope of their own: the only place multipart bodies are parsed. */
export function uploadRoutes(app: FastifyInstance, routes: (scope: FastifyInstance) => void): void {
  app.register(async (scope) => {
    await scope.register(multipart, { throwFileSizeLimit: true });
    routes(scope);
  });
}

const LIMIT_ERRORS = new Set(['FST_REQ_FILE_TOO_LARGE', 'FST_PARTS_LIMIT', 'FST_FILES_LIMIT', 'FST_FIELDS_LIMIT']);

/** What went wrong in a multipart body, as a catalogue error (never the part it was about). */
function multipartError(error: unknown, limits: UploadLimits): TallyError {
  if (isTallyError(error)) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new TallyError('INPUT_TOO_LARGE', `The file is larger than ${limits.fileBytes} bytes.`);
  if (LIMIT_ERRORS.has(code))
    return new TallyError('INPUT_TOO_LARGE', `The form has more parts than it may (one file, at most ${limits.fields} fields).`);
  return invalidInput('uploadMalformed');
}

/**
 * Reads an upload: text fields and one file, within `limits`. With `checkFormToken`, the first part
 * must be the `_csrf` field, and it is checked before anything else is read.
 */
export async function readMultipart(
  request: FastifyRequest,
  limits: UploadLimits,
  checkFormToken?: (sent: string | undefined) => void,
): Promise<MultipartForm> {
  if (!request.isMultipart()) throw new TallyError('UNSUPPORTED_MEDIA_TYPE', 'This form takes multipart/form-data.');
  const form = Object.create(null) as MultipartForm;
  let first = true;
  try {
    const parts = request.parts({
      limits: {
        fileSize: limits.fileBytes,
        files: 1,
        fields: limits.fields,
        fieldSize: limits.fieldBytes,
        parts: limits.fields + 1,
        headerPairs: 16,
      },
    });
    for await (const part of parts) {
      if (first && checkFormToken) checkFormToken(part.type === 'field' && part.fieldname === '_csrf' ? String(part.value) : undefined);
      first = false;
      if (part.type === 'file') {
        const content = await part.toBuffer();
        if (part.file.truncated) throw new TallyError('INPUT_TOO_LARGE', `The file is larger than ${limits.fileBytes} bytes.`);
        if (part.filename || content.length > 0) form.file = { fileName: part.filename.slice(0, 255), content };
      } else if (part.fieldname !== 'file') {
        if (part.valueTruncated)
          throw new TallyError('INPUT_TOO_LARGE', `The field ${part.fieldname.slice(0, 64)} is longer than ${limits.fieldBytes} bytes.`);
        form[part.fieldname] = String(part.value);
      }
    }
  } catch (error) {
    throw multipartError(error, limits);
  }
  if (first && checkFormToken) checkFormToken(undefined);
  return form;
}
