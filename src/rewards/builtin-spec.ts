// Picking a built-in reward by a short spec string, as the command line names them:
//
//   exact-match[:COLUMN[:REGEX]]   exactMatch on column COLUMN (default 'answer'); REGEX (the rest
//                                  of the spec, colons included) extracts the answer
//   format:REGEX                   formatMatch(REGEX) (the rest of the spec, colons included)
//   length:MAX[:PENALTY]           lengthPenalty({ maxLength: MAX, penalty: PENALTY })
//
// Errors name the whole spec, so a bad flag among several is easy to find.
import { exactMatch, formatMatch, lengthPenalty, type SyncRewardFunction } from './builtin.js';

/** The names builtinReward knows, each with its spec syntax. */
export const BUILTIN_REWARDS: Readonly<Record<string, string>> = {
  'exact-match': 'exact-match[:COLUMN[:REGEX]]',
  format: 'format:REGEX',
  length: 'length:MAX[:PENALTY]',
};

/** `head:rest` split at the first colon (rest undefined without one). */
function splitOnce(s: string): [string, string | undefined] {
  const i = s.indexOf(':');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function number(spec: string, what: string, text: string): number {
  const n = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(n)) throw new RangeError(`builtinReward('${spec}'): ${what} must be a number, got '${text}'`);
  return n;
}

/** A built-in reward from its spec (see BUILTIN_REWARDS), e.g. 'exact-match:answer', 'format:^\\d+$', 'length:32'. */
export function builtinReward(spec: string): SyncRewardFunction {
  if (typeof spec !== 'string') throw new TypeError(`builtinReward: spec must be a string, got ${typeof spec}`);
  const [name, rest] = splitOnce(spec);
  if (!Object.hasOwn(BUILTIN_REWARDS, name)) {
    throw new Error(`builtinReward('${spec}'): unknown reward '${name}' (built-in: ${Object.values(BUILTIN_REWARDS).join(', ')})`);
  }
  const usage = BUILTIN_REWARDS[name] as string;
  try {
    if (name === 'exact-match') {
      if (rest === undefined) return exactMatch();
      const [column, regex] = splitOnce(rest);
      if (regex === undefined) return exactMatch({ column });
      if (regex === '') throw new Error('REGEX is empty');
      return exactMatch({ column, extract: new RegExp(regex) });
    }
    if (name === 'format') {
      if (rest === undefined || rest === '') throw new Error(`expected ${usage}`);
      return formatMatch(rest);
    }
    if (rest === undefined || rest === '') throw new Error(`expected ${usage}`);
    const [max, penalty] = splitOnce(rest);
    return lengthPenalty({
      maxLength: number(spec, 'MAX', max),
      ...(penalty === undefined ? {} : { penalty: number(spec, 'PENALTY', penalty) }),
    });
  } catch (e) {
    const message = (e as Error).message;
    if (message.startsWith('builtinReward(')) throw e;
    throw new Error(`builtinReward('${spec}'): ${message}`, { cause: e });
  }
}
