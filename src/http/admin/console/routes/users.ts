import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Permission } from '../../../../domain/actor.js';
import type { Services } from '../../../../domain/services.js';
import { invalidField } from '../../../../errors.js';
import { DIRECTORY_STATES, type DirectoryState, USER_ROLES, type UserRole } from '../../../../model/vocabulary.js';
import { formSchema } from '../../../web/console.js';
import {
  actorOf,
  consoleUploads,
  fixable,
  given,
  INPUT_ERRORS,
  type MultipartForm,
  noticeFrom,
  page,
  redirect,
  viewerOf,
} from '../http.js';
import { link } from '../views/kit.js';
import {
  editUserPage,
  importUsersPage,
  importUsersReportPage,
  newUserPage,
  USERS_PAGE,
  type UserDetail,
  userPage,
  usersPage,
} from '../views/users.js';
import { distributionResultPage } from './tokens.js';

const UsernameParams = {
  type: 'object',
  properties: { username: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['username'],
  additionalProperties: false,
} as const;
type UserRoute = { Params: { username: string } };
const ListQuery = {
  type: 'object',
  properties: {
    q: { type: 'string', maxLength: 128 },
    directoryState: { type: 'string', enum: ['', ...DIRECTORY_STATES] },
    after: { type: 'string', maxLength: 128 },
    notice: { type: 'string', maxLength: 32 },
  },
  additionalProperties: false,
} as const;
const UserFields = {
  email: { maxLength: 320 },
  firstName: { maxLength: 128 },
  lastName: { maxLength: 128 },
  password: { maxLength: 1024 },
  role: { maxLength: 16 },
};
type UserBody = Partial<Record<keyof typeof UserFields, string>>;

function roleOf(value: string | undefined): UserRole | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(USER_ROLES as readonly string[]).includes(value)) throw invalidField('role', 'oneOf', { choices: USER_ROLES.join(', ') });
  return value as UserRole;
}

/** Users: find, create, import from CSV, edit, disable, unlock; a user's tokens and recent authentications. */
export function userRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Querystring: { q?: string; directoryState?: DirectoryState | ''; after?: string } }>(
    '/users',
    { config: { permission: 'users.read' }, schema: { querystring: ListQuery } },
    async (request, reply) => {
      const after = given(request.query.after);
      const search = given(request.query.q);
      const directoryState = request.query.directoryState || undefined;
      const found = await services.users.list(actorOf(request), { search, directoryState, after, limit: USERS_PAGE + 1 });
      return page(
        reply,
        usersPage(viewerOf(request), {
          users: found.slice(0, USERS_PAGE),
          search,
          directoryState,
          after,
          more: found.length > USERS_PAGE,
          notice: noticeFrom(request),
        }),
      );
    },
  );

  app.get('/users/new', { config: { permission: 'users.create' } }, async (request, reply) => page(reply, newUserPage(viewerOf(request))));

  app.post<{ Body: UserBody & { username: string } }>(
    '/users',
    { config: { permission: 'users.create' }, schema: { body: formSchema({ username: { maxLength: 128 }, ...UserFields }, ['username']) } },
    async (request, reply) => {
      const body = request.body;
      const form = {
        username: body.username.trim(),
        email: given(body.email),
        firstName: given(body.firstName),
        lastName: given(body.lastName),
        role: undefined as UserRole | undefined,
      };
      try {
        form.role = roleOf(body.role);
        const user = await services.users.create(actorOf(request), { ...form, password: body.password || undefined });
        return redirect(reply, link('users', user.username), 'user-created');
      } catch (error) {
        const refused = fixable(error, INPUT_ERRORS);
        return page(reply, newUserPage(viewerOf(request), form, refused), refused.status);
      }
    },
  );

  app.get('/users/import', { config: { permission: 'users.create' } }, async (request, reply) =>
    page(reply, importUsersPage(viewerOf(request))),
  );

  consoleUploads(app, (uploads) => {
    uploads.post<{ Body: MultipartForm }>('/users/import', { config: { permission: 'users.create' } }, async (request, reply) => {
      const form = request.body ?? {};
      const text = form.file ? form.file.content.toString('utf8') : (form.csv ?? '');
      try {
        if (!text.trim()) throw invalidField('file', 'userFileMissing');
        return page(reply, importUsersReportPage(viewerOf(request), await services.users.importCsv(actorOf(request), text)));
      } catch (error) {
        const refused = fixable(error, [...INPUT_ERRORS, 'FORMAT_INVALID']);
        return page(reply, importUsersPage(viewerOf(request), refused, form.file ? undefined : form.csv), refused.status);
      }
    });
  });

  const detail = async (request: FastifyRequest<UserRoute>, extra: Partial<UserDetail> = {}): Promise<UserDetail> => {
    const actor = actorOf(request);
    const username = request.params.username;
    const user = await services.users.get(actor, username);
    const [tokens, authentications, profiles] = await Promise.all([
      services.tokens.list(actor, { username, limit: 200, offset: 0 }),
      services.audit.authentications(actor, username, 20),
      services.profiles.list(actor),
    ]);
    return { user, tokens, authentications, profiles, notice: noticeFrom(request), ...extra };
  };

  app.get<UserRoute>(
    '/users/:username',
    { config: { permission: 'users.read' }, schema: { params: UsernameParams } },
    async (request, reply) => page(reply, userPage(viewerOf(request, 'users'), await detail(request))),
  );

  app.get<UserRoute>(
    '/users/:username/edit',
    { config: { permission: 'users.update' }, schema: { params: UsernameParams } },
    async (request, reply) => {
      const user = await services.users.get(actorOf(request), request.params.username);
      return page(reply, editUserPage(viewerOf(request), user, user));
    },
  );

  app.post<UserRoute & { Body: UserBody }>(
    '/users/:username/edit',
    { config: { permission: 'users.update' }, schema: { params: UsernameParams, body: formSchema(UserFields, []) } },
    async (request, reply) => {
      const body = request.body;
      const changes = {
        email: given(body.email) ?? null,
        firstName: given(body.firstName) ?? null,
        lastName: given(body.lastName) ?? null,
      };
      try {
        await services.users.update(actorOf(request), request.params.username, {
          ...changes,
          role: roleOf(body.role),
          password: body.password || undefined,
        });
        return redirect(reply, link('users', request.params.username), 'user-updated');
      } catch (error) {
        const refused = fixable(
          error,
          INPUT_ERRORS.filter((code) => code !== 'USER_NOT_FOUND'),
        );
        const user = await services.users.get(actorOf(request), request.params.username);
        return page(reply, editUserPage(viewerOf(request), user, { ...changes, role: roleOf(body.role) }, refused), refused.status);
      }
    },
  );

  const userAction = (
    name: string,
    permission: Permission,
    act: (request: FastifyRequest<UserRoute>) => Promise<unknown>,
    notice: Parameters<typeof redirect>[2],
  ) =>
    app.post<UserRoute>(
      `/users/:username/${name}`,
      { config: { permission }, schema: { params: UsernameParams, body: formSchema({}) } },
      async (request, reply) => {
        try {
          await act(request);
        } catch (error) {
          const refused = fixable(error, ['CONFLICT']);
          return page(reply, userPage(viewerOf(request, 'users'), await detail(request, { error: refused })), refused.status);
        }
        return redirect(reply, link('users', request.params.username), notice);
      },
    );
  userAction(
    'disable',
    'users.update',
    (request) => services.users.setDisabled(actorOf(request), request.params.username, true),
    'user-disabled',
  );
  userAction(
    'enable',
    'users.update',
    (request) => services.users.setDisabled(actorOf(request), request.params.username, false),
    'user-enabled',
  );
  userAction('unlock', 'users.unlock', (request) => services.users.unlock(actorOf(request), request.params.username), 'user-unlocked');
  userAction(
    'sessions/revoke',
    'sessions.revoke',
    (request) => services.sessions.revokeAll(actorOf(request), request.params.username),
    'sessions-ended',
  );

  app.post<UserRoute & { Body: { profile: string } }>(
    '/users/:username/distribute',
    {
      config: { permission: 'tokens.distribute' },
      schema: { params: UsernameParams, body: formSchema({ profile: { maxLength: 128, minLength: 1 } }) },
    },
    async (request, reply) => {
      try {
        const result = await services.distribution.distributeToUser(actorOf(request), request.params.username, request.body.profile);
        return distributionResultPage(request, reply, services, result, request.params.username, 'Token distributed');
      } catch (error) {
        const refused = fixable(error, [...INPUT_ERRORS, 'FORBIDDEN']);
        return page(reply, userPage(viewerOf(request, 'users'), await detail(request, { error: refused })), refused.status);
      }
    },
  );

  app.post<UserRoute & { Body: { passcode: string } }>(
    '/users/:username/verify',
    { config: { permission: 'auth.verify' }, schema: { params: UsernameParams, body: formSchema({ passcode: { maxLength: 64 } }) } },
    async (request, reply) => {
      const verified = await services.authentication.verify(actorOf(request), {
        username: request.params.username,
        passcode: request.body.passcode,
        channel: 'rest',
        source: request.ip,
      });
      return page(reply, userPage(viewerOf(request, 'users'), await detail(request, { verified })));
    },
  );
}
