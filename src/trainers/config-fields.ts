// The declaration of a config field, written once (TRL's `field(default=…, metadata={"help": …})`):
// its help, its check, and its default, fixed or derived at resolve time. Each config (SFTConfig,
// PPOConfig, …) has one table of them, keyed by its interface (`satisfies Fields<SFTConfig>`, so a
// missing or extra field does not compile). The defaults objects, the validation rules, every
// `--flag` with its `--help` line, and the interfaces' doc comments (checked by
// test/config-fields.test.ts) are read off these tables, so they cannot disagree.

/** A value's test; the string says what it expects, for "field 'x' must be <what>". */
export type Check = (v: unknown) => boolean;
export type Rule = readonly [Check, string];

const isNum: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isInt: Check = (v) => typeof v === 'number' && Number.isInteger(v);
export const checks = {
  positive: [(v: unknown) => isNum(v) && (v as number) > 0, 'a positive number'],
  nonNegative: [(v: unknown) => isNum(v) && (v as number) >= 0, 'a non-negative number'],
  fraction: [(v: unknown) => isNum(v) && (v as number) >= 0 && (v as number) < 1, 'a number in [0, 1)'],
  unit: [(v: unknown) => isNum(v) && (v as number) >= 0 && (v as number) <= 1, 'a number in [0, 1]'],
  positiveInt: [(v: unknown) => isInt(v) && (v as number) > 0, 'a positive integer'],
  nonNegativeInt: [(v: unknown) => isInt(v) && (v as number) >= 0, 'a non-negative integer'],
  int: [isInt, 'an integer'],
  number: [isNum, 'a number'],
  boolean: [(v: unknown) => typeof v === 'boolean', 'true or false'],
  string: [(v: unknown) => typeof v === 'string' && v.length > 0, 'a non-empty string'],
  /** Sampling's nucleus: (0, 1]. */
  topP: [(v: unknown) => typeof v === 'number' && v > 0 && v <= 1, 'a number in (0, 1]'],
  numbersOrNull: [
    (v: unknown) => v === null || (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))),
    'null or an array of numbers',
  ],
} as const satisfies Record<string, Rule>;

/** A rule that accepts exactly the listed strings ("'a', 'b' or 'c'"). */
export function oneOf<const T extends string>(values: readonly T[]): Rule {
  const quoted = values.map((v) => `'${v}'`);
  return [(v: unknown) => values.includes(v as T), `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)!}`];
}

/** The type of a flag's value on the command line. */
export type FlagType = 'number' | 'boolean' | 'text';

export interface Field<T> {
  /** What the field does: the `--help` line and, with the default, the interface's doc comment. */
  readonly help: string;
  readonly check: Rule;
  /** The default. A field with neither `default` nor `derived` must be given (outputDir). */
  readonly default?: T;
  /** In words, how the default is derived when the field is not given ("the model's blockSize"). */
  readonly derived?: string;
  /** The flag's value type, when the default does not tell (a derived or null default). */
  readonly flag?: FlagType;
}

/** One field declaration per field of the config C. */
export type Fields<C> = { readonly [K in keyof C]-?: Field<C[K]> };

/** The fixed defaults of a table: its fields that declare one. */
export type Defaults<F> = {
  -readonly [K in keyof F as F[K] extends { default: unknown } ? K : never]: F[K] extends { default: infer D } ? D : never;
};

export function defaultsOf<F extends Record<string, Field<unknown>>>(fields: F): Defaults<F> {
  return Object.fromEntries(Object.entries(fields).flatMap(([k, f]) => ('default' in f ? [[k, f.default]] : []))) as Defaults<F>;
}

/** The validation rules of a table, in its order (resolveConfig's). */
export function rulesOf<F extends Record<string, Field<unknown>>>(fields: F): { [K in keyof F]: Rule } {
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.check])) as { [K in keyof F]: Rule };
}

/** The default as `--help` and the docs say it: the value, or how it is derived; null when the field is required. */
export function describeDefault(f: Field<unknown>): string | null {
  if (f.derived !== undefined) return f.derived;
  return 'default' in f ? JSON.stringify(f.default) : null;
}

/** The type of a field's flag: declared, else its default's. */
export function flagType(f: Field<unknown>): FlagType {
  if (f.flag) return f.flag;
  return typeof f.default === 'boolean' ? 'boolean' : typeof f.default === 'number' ? 'number' : 'text';
}

/** The doc comment a field's interface member carries: its help, then its default. */
export function fieldDoc(f: Field<unknown>): string {
  const d = describeDefault(f);
  return d === null ? f.help : `${f.help} Default: ${d}.`;
}
