/**
 * The places where this project reaches into the Functions Framework, all here and tied to the
 * version they were written against. `FRAMEWORK_VERSION` is the pinned dependency of package.json;
 * test/unit/framework.test.ts fails when the two differ, so an upgrade of the framework starts by
 * re-reading this file. At run time a different installed version is logged, and each hook that
 * cannot find what it patches leaves the framework as it is (and says so).
 *
 * Three hooks, each a mechanism only, installed through `whenServing`; what they do is decided by
 * shared/http.ts:
 * - `installFrontDoor`: a look at every request before the framework parses its body, and the
 *   final handler that answers the framework's own failures (its default one answers HTML);
 * - `installDirectDispatch`: chosen handlers called without the framework's per-request domain;
 * - `installServerHook`: the `http.Server` the framework creates, configured before it listens
 *   (timeouts, Node's own parser errors).
 *
 * The framework is resolved from its own location, so a bundle patches the copy that serves it.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { log } from './log';

/** The version these hooks were written against (package.json pins it). */
export const FRAMEWORK_VERSION = '5.0.5';

const frameworkRequire = () => createRequire(require.resolve('@google-cloud/functions-framework'));
/** A module of the framework's build (`server.js`, `function_wrappers.js`), or undefined when it moved. */
function frameworkModule<T>(file: string): T | undefined {
  try {
    return frameworkRequire()(join(dirname(require.resolve('@google-cloud/functions-framework')), file)) as T;
  } catch {
    return undefined;
  }
}

let versionChecked = false;
function checkVersion(): void {
  if (versionChecked) return;
  versionChecked = true;
  let installed: string | undefined;
  try {
    // Its package.json is not among the package's exports: read from beside its build (build/src/index.js).
    const file = join(dirname(require.resolve('@google-cloud/functions-framework')), '..', '..', 'package.json');
    installed = (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    installed = undefined;
  }
  if (installed !== FRAMEWORK_VERSION) {
    log.warn(`Functions Framework ${installed ?? '(unknown)'} is installed; shared/framework.ts was written for ${FRAMEWORK_VERSION}`);
  }
}

type RegistryModule = { getRegisteredFunction: (name: string) => unknown };
let servingHooks: (() => void)[] | undefined;

/**
 * Runs `install` when the framework is about to serve, so that requiring a bundle loads nothing of
 * the framework's server (Express, body-parser, cloudevents: ~18 MiB of RSS, issue 14): at once
 * when its server module is already loaded (its main.js loads it before any function), else on
 * the framework's first lookup of a registered function, which its main and `getTestServer` both
 * make before they create a server. Each hook below must be installed through this.
 */
export function whenServing(install: () => void): void {
  const base = dirname(require.resolve('@google-cloud/functions-framework'));
  if (require.cache[join(base, 'server.js')]) return install();
  if (servingHooks) {
    servingHooks.push(install);
    return;
  }
  const registry = frameworkModule<RegistryModule>('function_registry.js');
  if (typeof registry?.getRegisteredFunction !== 'function') {
    log.warn('Functions Framework internals changed: its server is hooked when a bundle loads');
    return install();
  }
  servingHooks = [install];
  const original = registry.getRegisteredFunction;
  registry.getRegisteredFunction = (name) => {
    registry.getRegisteredFunction = original;
    const hooks = servingHooks ?? [];
    servingHooks = undefined;
    for (const hook of hooks) hook();
    return original(name);
  };
}

type ExpressApp = { handle(req: IncomingMessage, res: ServerResponse, done?: (err?: unknown) => void): void };

export interface FrontDoor {
  /** Sees each request before the framework does; returns true when it has answered it. */
  before(req: IncomingMessage, res: ServerResponse): boolean;
  /** Answers what the framework could not route or parse (`err` undefined: no route). */
  final(err: unknown, req: IncomingMessage, res: ServerResponse): void;
}

let frontDoor: FrontDoor | undefined;

/** Puts `door` in front of the framework's Express application (its `handle`, Express 5). */
export function installFrontDoor(door: FrontDoor): void {
  if (frontDoor) return;
  frontDoor = door;
  checkVersion();
  const express = frameworkRequire()('express') as { application: ExpressApp };
  const original = express.application.handle;
  express.application.handle = function (this: ExpressApp, req, res, done) {
    if (door.before(req, res)) return;
    return original.call(this, req, res, done ?? ((err?: unknown) => door.final(err, req, res)));
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;
type Wrappers = { wrapUserFunction: (fn: Handler, signatureType: string) => Handler };
let directDispatchInstalled = false;

/**
 * Lets the framework call the HTTP handlers `isDirect` picks directly, without the `domain` it
 * creates for every request. The framework uses the domain only to turn an error the handler did
 * not catch into a crash response; the handlers picked here catch every error themselves
 * (`onEscape` is the last resort). The domain is expensive: creating the first one enables a Node
 * async hook with destroy tracking for every promise of the process, and entering it binds every
 * async resource made in a request (`npm run bench` measured the webhook's CPU per request about
 * 15–20 % lower without it). The framework looks `wrapUserFunction` up on its module each time it
 * builds a server, so this applies to `npm start`, the platform and the tests' servers alike.
 */
export function installDirectDispatch(isDirect: (fn: Handler) => boolean, onEscape: (err: unknown, req: IncomingMessage, res: ServerResponse) => void): void {
  if (directDispatchInstalled) return;
  directDispatchInstalled = true;
  checkVersion();
  const wrappers = frameworkModule<Wrappers>('function_wrappers.js');
  if (typeof wrappers?.wrapUserFunction !== 'function') {
    log.warn('Functions Framework internals changed: HTTP functions run in its per-request domain');
    return;
  }
  const original = wrappers.wrapUserFunction;
  wrappers.wrapUserFunction = (fn, signatureType) => {
    if (signatureType !== 'http' || !isDirect(fn)) return original(fn, signatureType);
    return (req, res) => {
      void Promise.resolve(fn(req, res)).catch((err: unknown) => onEscape(err, req, res));
    };
  };
}

type ServerModule = { getServer: (userFunction: Handler, options: unknown) => Server };
let serverHookInstalled = false;

/**
 * Calls `configure` with every `http.Server` the framework creates (`getServer`, used by its
 * `main` and by `getTestServer`), before it listens, with the function it serves.
 */
export function installServerHook(configure: (server: Server, userFunction: Handler) => void): void {
  if (serverHookInstalled) return;
  serverHookInstalled = true;
  checkVersion();
  const server = frameworkModule<ServerModule>('server.js');
  if (typeof server?.getServer !== 'function') {
    log.warn('Functions Framework internals changed: its servers keep Node’s default timeouts and error answers');
    return;
  }
  const original = server.getServer;
  server.getServer = (userFunction, options) => {
    const created = original(userFunction, options);
    configure(created, userFunction);
    return created;
  };
}
