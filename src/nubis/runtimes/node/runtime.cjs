/**
 * nubis Node.js runtime client: runs inside an execution environment, no dependencies.
 *
 * Speaks the Lambda Runtime API (2018-06-01) at AWS_LAMBDA_RUNTIME_API over node:http
 * with a keep-alive agent, and behaves like AWS's Node.js runtime interface client
 * (aws-lambda-nodejs-runtime-interface-client, the one behind nodejs18.x-22.x) as far
 * as user code can see: handler resolution ("file.func", "dir/file.nested.func"),
 * CommonJS / ES modules, async and callback handlers with
 * context.callbackWaitsForEmptyEventLoop, the context object, console lines
 * "<ISO time>\t<request id>\t<LEVEL>\t<message>", and the error shapes and types
 * (Runtime.ImportModuleError, Runtime.HandlerNotFound, ...).
 */

'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { pathToFileURL } = require('node:url');

// ---------------------------------------------------------------- errors

class RuntimeError extends Error {}
function errorClass(name) {
  const C = class extends RuntimeError {};
  Object.defineProperty(C, 'name', { value: name });
  C.prototype.name = `Runtime.${name}`;
  return C;
}
const ImportModuleError = errorClass('ImportModuleError');
const HandlerNotFound = errorClass('HandlerNotFound');
const MalformedHandlerName = errorClass('MalformedHandlerName');
const UserCodeSyntaxError = errorClass('UserCodeSyntaxError');
class NodeJsExit extends RuntimeError {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
NodeJsExit.prototype.name = 'Runtime.NodeJsExit';
class UnhandledPromiseRejection extends RuntimeError {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

function isErrorLike(obj) {
  return (
    obj && typeof obj.name === 'string' && typeof obj.message === 'string' && typeof obj.stack === 'string' &&
    obj.name && obj.message && obj.stack
  );
}

/** The body posted to /error: {errorType, errorMessage, trace}. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_e) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

function withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign({ errorType: error.name, errorMessage: error.message, code: error.code }, error);
    if (typeof error.stack === 'string') ret.stack = error.stack.split('\n');
    return ret;
  }
  return error;
}

function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_e) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------- logging

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const LEVELS = {
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
};
const JSON_FORMAT = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';

function jsonErrorReplacer(_k, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJson(requestId, time, level, params) {
  const result = { timestamp: time, level: level.name, requestId: requestId };
  if (params.length === 1) {
    result.message = params[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_e) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...params);
  for (const p of params) {
    if (p instanceof Error) {
      result.errorType = p?.constructor?.name ?? 'UnknownError';
      result.errorMessage = p.message;
      result.stackTrace = typeof p.stack === 'string' ? p.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function writeLog(level, params) {
  const time = new Date().toISOString();
  const rid = global[REQUEST_ID];
  const line = JSON_FORMAT
    ? formatJson(rid, time, level, params)
    : `${time}\t${rid}\t${level.name}\t${util.format(...params)}`;
  // One line per event: newlines inside a message become \r, as on Lambda.
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const minimum = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE;
  const nop = () => {};
  const at = (level) => (level.priority >= minimum.priority ? (...params) => writeLog(level, params) : nop);
  console.trace = at(LEVELS.TRACE);
  console.debug = at(LEVELS.DEBUG);
  console.info = at(LEVELS.INFO);
  console.log = console.info;
  console.warn = at(LEVELS.WARN);
  console.error = at(LEVELS.ERROR);
  console.fatal = (...params) => writeLog(LEVELS.FATAL, params);
}

function logError(message, err) {
  if (JSON_FORMAT) console.error(intoError(err));
  else console.error(message, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------- Runtime API client

const [API_HOST, API_PORT] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = '/2018-06-01/runtime';

function request(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: API_HOST, port: parseInt(API_PORT, 10), method, path: urlPath, agent, headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function post(urlPath, bodyString, extraHeaders) {
  const headers = Object.assign(
    { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(bodyString) },
    extraHeaders || {},
  );
  return request('POST', urlPath, bodyString, headers);
}

function serialize(body) {
  return JSON.stringify(body === undefined ? null : body);
}

/** Exit quietly when the platform is gone (its socket closed): nothing left to serve. */
function lostPlatform(err) {
  process.stderr.write(`nubis runtime: lost the Runtime API (${err && err.message}); exiting\n`);
  process.exit(1);
}

const client = {
  async next() {
    const res = await request('GET', `${BASE}/invocation/next`);
    if (res.status !== 200) throw new Error(`Runtime API /next answered ${res.status}: ${res.body}`);
    return { bodyJson: res.body.toString('utf8'), headers: res.headers };
  },
  postInvocationResponse(result, id, callback) {
    let bodyString;
    try {
      bodyString = serialize(result);
    } catch (_e) {
      // As AWS's client: the failure becomes this invocation's error.
      throw new Error('Unable to stringify response body');
    }
    post(`${BASE}/invocation/${encodeURIComponent(id)}/response`, bodyString).then(() => callback(), lostPlatform);
  },
  postInvocationError(error, id, callback) {
    const response = toRapidResponse(error);
    let bodyString;
    try {
      bodyString = serialize(response);
    } catch (_e) {
      bodyString = serialize({ errorType: String(response.errorType), errorMessage: String(response.errorMessage) });
    }
    post(`${BASE}/invocation/${encodeURIComponent(id)}/error`, bodyString, {
      'Lambda-Runtime-Function-Error-Type': String(response.errorType).replace(/[^\x20-\x7e]/g, '?'),
    }).then(() => callback(), lostPlatform);
  },
  postInitError(error, callback) {
    const response = toRapidResponse(error);
    post(`${BASE}/init/error`, serialize(response), {
      'Lambda-Runtime-Function-Error-Type': String(response.errorType).replace(/[^\x20-\x7e]/g, '?'),
    }).then(() => callback(), () => callback());
  },
};

// ---------------------------------------------------------------- loading the handler

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

function moduleRootAndHandler(full) {
  const handlerString = path.basename(full);
  return [full.substring(0, full.indexOf(handlerString)), handlerString];
}

function splitHandlerString(handler) {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) throw new MalformedHandlerName('Bad handler');
  return [match[1], match[2]];
}

function resolveHandler(object, nested) {
  return nested.split('.').reduce((o, key) => o && o[key], object);
}

function tryRequireFile(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? require(p) : undefined;
}

async function tryAwaitImport(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? await import(pathToFileURL(p).href) : undefined;
}

function hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, '/package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

async function tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;
  const pjHasModule = hasFolderPackageJsonTypeModule(path.resolve(path.dirname(lambdaStylePath)));
  if (!pjHasModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await tryAwaitImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;
  // require() resolves relative to this file, not the task root: resolve from there.
  return require(require.resolve(module, { paths: [appRoot, moduleRoot] }));
}

async function loadUserApp(appRoot, moduleRoot, module) {
  try {
    return await tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
}

async function load(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = splitHandlerString(moduleAndHandler);
  const userApp = await loadUserApp(appRoot, moduleRoot, module);
  const handlerFunc = resolveHandler(userApp, handlerPath);
  if (!handlerFunc) throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  if (typeof handlerFunc !== 'function') throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  return handlerFunc;
}

// ---------------------------------------------------------------- invocation loop

const BEFORE_EXIT = Symbol.for('aws.lambda.beforeExit');
const NO_OP = () => {};
const beforeExit = {
  invoke: () => global[BEFORE_EXIT](),
  reset: () => (global[BEFORE_EXIT] = NO_OP),
  set: (listener) => (global[BEFORE_EXIT] = listener),
};

/** The callback, the callback part of the context, and markCompleted (AWS's CallbackContext). */
function buildCallbackContext(id, scheduleNext) {
  const postError = (err, callback) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id, callback);
  };
  let isCompleteInvoked = false;
  const complete = (result, callback) => {
    if (isCompleteInvoked) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    isCompleteInvoked = true;
    client.postInvocationResponse(result, id, callback);
  };
  let waitForEmptyEventLoop = true;
  const callback = function (err, result) {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      beforeExit.set(() => setImmediate(() => complete(result, scheduleNext)));
    }
  };
  const done = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) postError(err, scheduleNext);
    else complete(result, scheduleNext);
  };
  const succeed = (result) => done(null, result);
  const fail = (err) => (err === undefined || err === null ? done('handled') : done(err, null));
  const callbackContext = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed,
    fail,
    done,
  };
  // Only the first call to any of them counts.
  let finished = false;
  const once = (fn) =>
    function () {
      if (!finished) {
        fn.apply(null, arguments);
        finished = true;
      }
    };
  callbackContext.succeed = once(callbackContext.succeed);
  callbackContext.fail = once(callbackContext.fail);
  callbackContext.done = once(callbackContext.done);
  return [once(callback), callbackContext, () => (isCompleteInvoked = true)];
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachContext(callbackContext, headers) {
  const trace = headers['lambda-runtime-trace-id'];
  if (trace) process.env._X_AMZN_TRACE_ID = trace;
  else delete process.env._X_AMZN_TRACE_ID;
  const deadline = headers['lambda-runtime-deadline-ms'];
  return Object.assign(
    callbackContext,
    {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    },
    {
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: headers['lambda-runtime-aws-request-id'],
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      getRemainingTimeInMillis: function () {
        return deadline - Date.now();
      },
    },
  );
}

function isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(handler, errorCallbacks) {
    this.handler = handler;
    this.isAsync = !!(handler && handler.constructor && handler.constructor.name === 'AsyncFunction');
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().then(
        () => {},
        (err) => {
          if (err && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
            lostPlatform(err);
          }
          console.log(`Unexpected Top Level Error: ${err.toString()}`);
          this.errorCallbacks.uncaughtException(err);
        },
      );
    });
  }

  async handleOnce() {
    const { bodyJson, headers } = await client.next();
    const id = headers['lambda-runtime-aws-request-id'];
    if (!id) throw new Error('invocation id is missing or invalid');
    global[REQUEST_ID] = id;
    const [callback, callbackContext, markCompleted] = buildCallbackContext(id, this.scheduleIteration.bind(this));
    try {
      this.setErrorCallbacks(id);
      this.setDefaultExitListener(id, markCompleted);
      const result = this.handler(JSON.parse(bodyJson), attachContext(callbackContext, headers), callback);
      if (isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  setErrorCallbacks(id) {
    this.errorCallbacks.uncaughtException = (error) => {
      client.postInvocationError(error, id, () => process.exit(129));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      client.postInvocationError(error, id, () => process.exit(128));
    };
  }

  setDefaultExitListener(id, markCompleted) {
    beforeExit.set(() => {
      markCompleted();
      if (this.isAsync) {
        // An async handler whose promise never settled.
        const err = new NodeJsExit();
        logError('Invoke Error', err);
        client.postInvocationError(err, id, () => this.scheduleIteration());
      } else {
        // A sync or callback handler that never called back: success with null.
        client.postInvocationResponse(null, id, () => this.scheduleIteration());
      }
    });
  }
}

async function main() {
  patchConsole();
  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error, () => process.exit(129)),
    unhandledRejection: (error) => client.postInitError(error, () => process.exit(128)),
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  beforeExit.reset();
  process.on('beforeExit', beforeExit.invoke);

  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await load(appRoot, process.env._HANDLER || '');
  } catch (error) {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  new Runtime(handler, errorCallbacks).scheduleIteration();
}

main();
