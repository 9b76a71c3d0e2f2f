// The web server of `rlhf label` (node:http, no framework): GET / serves the page; POST
// /api/next leases the next prompt to an annotator, /api/submit appends their judgement to the
// output file (durably, before answering) and /api/skip gives the prompt back. Every POST must
// carry this session's token (X-Label-Token, only in the page the server served) and a JSON
// body; when bound to a loopback address, the Host header must name it too (no DNS rebinding).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendLineDurable } from '../io/append.js';
import { labelPage } from './page.js';
import type { LabelQueue, Lease } from './queue.js';
import { parseSubmission, recordsFor, type LabelMode, type Submission } from './records.js';

export interface LabelServerOptions {
  queue: LabelQueue;
  mode: LabelMode;
  out: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Called after each judgement is saved. */
  onSaved?: (annotator: string) => void;
}

export interface LabelServer {
  url: string;
  token: string;
  server: Server;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'request too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'the body must be JSON'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(JSON.stringify(body));
}

function annotatorOf(body: Record<string, unknown>): string {
  const a = typeof body.annotator === 'string' ? body.annotator.trim() : '';
  if (!a || a.length > 100) throw new HttpError(400, "'annotator' must be a name of 1 to 100 characters");
  return a;
}

export async function startLabelServer(o: LabelServerOptions): Promise<LabelServer> {
  const token = randomBytes(16).toString('hex');
  const host = o.host ?? '127.0.0.1';
  const { queue, mode } = o;
  let port = 0;
  const hostAllowed = (h: string | undefined): boolean =>
    !LOOPBACK.has(host) || [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(h ?? '');
  const tokenOk = (t: string | string[] | undefined): boolean =>
    typeof t === 'string' && t.length === token.length && timingSafeEqual(Buffer.from(t), Buffer.from(token));

  async function api(path: string, body: Record<string, unknown>): Promise<unknown> {
    const annotator = annotatorOf(body);
    if (path === '/api/next') {
      const l = queue.next(annotator);
      const item = l ? queue.items[l.item]! : null;
      return {
        progress: queue.progress(),
        lease:
          l && item ? { id: l.id, prompt: item.prompt, answers: l.shown.map((index) => ({ index, text: item.answers[index] })) } : null,
      };
    }
    const id = typeof body.lease === 'string' ? body.lease : '';
    let lease: Lease;
    try {
      lease = queue.take(id, annotator);
    } catch (e) {
      throw new HttpError(409, (e as Error).message);
    }
    if (path === '/api/skip') {
      queue.skip(id, annotator);
      return { progress: queue.progress() };
    }
    const item = queue.items[lease.item]!;
    let sub: Submission;
    try {
      sub = parseSubmission(mode, item.answers.length, body);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    const time = new Date().toISOString();
    for (const r of recordsFor(mode, item, sub, annotator, time)) appendLineDurable(o.out, JSON.stringify(r));
    queue.complete(lease);
    o.onSaved?.(annotator);
    return { progress: queue.progress() };
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handle = async (): Promise<void> => {
      if (!hostAllowed(req.headers.host)) throw new HttpError(403, 'unexpected Host header');
      if (req.method === 'GET' && path === '/') {
        const nonce = randomBytes(16).toString('hex');
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
          'content-security-policy':
            `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; ` +
            "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        });
        res.end(labelPage(mode, token, nonce));
        return;
      }
      if (req.method !== 'POST' || !['/api/next', '/api/submit', '/api/skip'].includes(path)) throw new HttpError(404, 'not found');
      if (!tokenOk(req.headers['x-label-token'])) throw new HttpError(403, 'missing or wrong session token: reload the page');
      if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
        throw new HttpError(415, 'the body must be application/json');
      const body = await readBody(req);
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
      send(res, 200, await api(path, body as Record<string, unknown>));
    };
    handle().catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) console.error(`rlhf label: ${(e as Error).message}`);
      if (!res.headersSent) send(res, status, { error: (e as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    token,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
