// The gateway's public GraphQL, with the bearer token and the chosen language.
import { currentSession } from './auth.js';
import { language } from './i18n.js';
import { documentText } from './operations.js';

export class ApiError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

let graphqlPath = '/graphql';

export function configureApi(path) {
  graphqlPath = path;
}

/** Run one operation: { data, errors } (field errors are data, not exceptions). */
export async function run(operation, variables = {}) {
  const session = currentSession();
  if (!session) throw new ApiError('UNAUTHENTICATED');
  let response;
  try {
    const query = await documentText(operation);
    response = await fetch(graphqlPath, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${session.accessToken}`,
        'Accept-Language': language(),
      },
      body: JSON.stringify({ query, operationName: operation.name, variables }),
    });
  } catch {
    throw new ApiError('NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError('INTERNAL');
  }
  const errors = body.errors || [];
  if (response.status === 401) throw new ApiError('UNAUTHENTICATED');
  if (!body.data && errors.length) {
    const code = errors[0].extensions?.code || 'INTERNAL';
    if (errors.every((e) => !e.path)) throw new ApiError(code, errors[0].message);
  }
  return { data: body.data || null, errors };
}

/** Like `run`, but an operation refused as a whole comes back as its error, not thrown. */
export async function settle(operation, variables = {}) {
  try {
    return await run(operation, variables);
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') throw error; // the app goes back to sign-in
    return { data: null, errors: [{ message: error.message, extensions: { code: error.code || 'INTERNAL' } }] };
  }
}

/** Why the value at `path` is missing: an error there or above it, or the whole answer's. */
export function reasonAt(answer, path) {
  const own = answer.errors.find(
    (error) => error.path && error.path.length <= path.length && error.path.every((part, i) => part === path[i]),
  );
  if (own) return own;
  return answer.data ? null : answer.errors[0] || { extensions: { code: 'INTERNAL' } };
}

/** The error at `path` (e.g. ['passport', 'labResults']), or null. */
export function errorAt(errors, path) {
  return (
    errors.find(
      (error) => error.path && path.every((part, i) => error.path[i] === part) && error.path.length === path.length,
    ) || null
  );
}

export function codeOf(error) {
  return error?.extensions?.code || 'INTERNAL';
}
