/**
 * The REST API's replies that are not a JSON object, described for OpenAPI. Fastify sends them as
 * the route gives them: no body for 204, and a string or bytes under a non-JSON content type are
 * never run through a JSON serializer.
 */
export const noContent = { description: 'Done; no body.', type: 'null' } as const;

/** A file or text download in one of the given media types. */
export function download(description: string, mediaTypes: readonly string[]) {
  return {
    description,
    content: Object.fromEntries(mediaTypes.map((mediaType) => [mediaType, { schema: { type: 'string', format: 'binary' } }])),
  };
}

/**
 * The operationId of a route that names none: its method and path in camelCase, a path parameter
 * as `By<Name>` (`POST /users/:username/unlock` is `postUsersByUsernameUnlock`). Derived, so every
 * operation has one, unique as its method and path are, and stable as long as the path is.
 */
export function operationIdOf(method: string, path: string): string {
  const pascal = (words: string) =>
    words
      .split(/[-_]/)
      .filter((word) => word !== '')
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join('');
  const segments = path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (segment.startsWith(':') ? `By${pascal(segment.slice(1))}` : pascal(segment)));
  return `${method.toLowerCase()}${segments.join('')}`;
}
