/**
 * Strict validation of an Envoy configuration (parsed YAML/JSON) against the official Envoy API
 * protos, without an Envoy binary.
 *
 * The protos come from `@grpc/grpc-js-xds/deps/{envoy-api,googleapis,protoc-gen-validate,xds}` and
 * are loaded with protobufjs. The walk follows the proto3 JSON mapping that Envoy applies to YAML:
 * - every key must be a field of its message (snake_case or lowerCamelCase JSON name), once;
 * - `@type` of a `google.protobuf.Any` must resolve to a loaded type, whose content is walked in turn
 *   (the package directory of an unknown type is loaded on demand, e.g.
 *   `envoy.extensions.filters.http.ext_authz.v3.X` -> `envoy/extensions/filters/http/ext_authz/v3/*.proto`);
 * - enum values must be names (or numbers) of the enum; scalars must have the JSON shape of their type;
 * - well-known types: Duration ("0.25s"), Timestamp, Struct/Value/ListValue, wrappers, Any, Empty,
 *   FieldMask;
 * - at most one member of a oneof; deprecated fields and enum values are refused;
 * - protoc-gen-validate rules read from the loaded reflection: `(validate.required)` on oneofs,
 *   `message/duration/timestamp/any.required`, string `min_len/max_len/min_bytes/pattern/prefix/in/not_in`,
 *   numeric `const/gt/gte/lt/lte/in/not_in`, enum `defined_only/in/not_in`, `bool.const`,
 *   repeated `min_items/max_items/items`, map `min_pairs`, duration `gt/gte/lt/lte`.
 *
 * The protos are the snapshot that @grpc/grpc-js-xds ships, older than Envoy 1.38: a field added after
 * that snapshot would be reported as unknown, so envoy.yaml keeps to fields that exist in both.
 *
 * Not checked (Envoy checks these at start-up): string `well_known` regexes, cross-field semantics,
 * references between resources (e.g. a route naming a cluster), extension-name/category pairing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';

/** One reason a document does not conform; `path` is a JSON-pointer-like location. */
export interface ValidationIssue {
  path: string;
  message: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Rules = Record<string, any>;

const DURATION_RE = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
const INT_RE = /^-?\d+$/;

const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64_TYPES = new Set(['uint64', 'fixed64']);
const FLOAT_TYPES = new Set(['double', 'float']);

/** Wrapper message -> the scalar type of its `value` field. */
const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** Well-known types whose JSON form is not an object of fields; inside an Any they sit under "value". */
const SPECIAL_JSON_TYPES = new Set([
  ...Object.keys(WRAPPERS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.FieldMask',
]);

/** lowerCamelCase JSON name of a proto field name, as protoc derives it. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function isPlainObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_v, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function stripDot(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name;
}

/** Seconds of a Duration rule value `{seconds, nanos}` or of a JSON duration string. */
function durationSeconds(v: unknown): number {
  if (typeof v === 'string') return Number(v.slice(0, -1));
  if (isPlainObject(v)) return Number(v['seconds'] ?? 0) + Number(v['nanos'] ?? 0) / 1e9;
  return 0;
}

/** Default directories of the official protos shipped inside @grpc/grpc-js-xds, plus protobufjs' own. */
export function defaultProtoDirs(): string[] {
  const require = createRequire(import.meta.url);
  const xds = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const pbjs = path.dirname(require.resolve('protobufjs/package.json'));
  const deps = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) =>
    path.join(xds, 'deps', d),
  );
  for (const d of deps) {
    if (!existsSync(d)) throw new Error(`Envoy proto directory missing: ${d}`);
  }
  // protobufjs ships google/protobuf/descriptor.proto (the other well-known types are built in).
  return [...deps, pbjs];
}

/**
 * Validates JSON-shaped values against Envoy API message types. Create once (loading the Bootstrap
 * graph takes ~100 ms) and reuse; types named by `@type` are loaded lazily and cached.
 */
export class EnvoyProtoValidator {
  private readonly root: protobuf.Root;
  private readonly loadedDirs = new Set<string>();
  private readonly fieldIndex = new Map<protobuf.Type, Map<string, protobuf.Field>>();

  constructor(private readonly dirs: readonly string[] = defaultProtoDirs()) {
    this.root = new protobuf.Root();
    this.root.resolvePath = (_origin: string, target: string) => {
      for (const d of this.dirs) {
        const p = path.join(d, target);
        if (existsSync(p)) return p;
      }
      return target;
    };
    this.load(['envoy/config/bootstrap/v3/bootstrap.proto']);
  }

  /** Validates `value` as the JSON form of message `typeName` (e.g. `envoy.config.bootstrap.v3.Bootstrap`). */
  validate(typeName: string, value: unknown): ValidationIssue[] {
    const type = this.findType(typeName);
    if (!type) return [{ path: '', message: `unknown message type ${typeName}` }];
    const issues: ValidationIssue[] = [];
    this.walkMessage(type, value, '', issues);
    return issues;
  }

  /** The loaded message type, or undefined (after trying to load its package directory). */
  findType(fullName: string): protobuf.Type | undefined {
    const name = stripDot(fullName);
    const hit = this.tryLookup(name);
    if (hit) return hit;
    const parts = name.split('.');
    for (let i = parts.length - 1; i >= 1; i--) {
      const rel = parts.slice(0, i).join('/');
      for (const d of this.dirs) {
        const dir = path.join(d, rel);
        if (this.loadedDirs.has(dir) || !existsSync(dir)) continue;
        this.loadedDirs.add(dir);
        const files = readdirSync(dir)
          .filter((f) => f.endsWith('.proto'))
          .map((f) => path.posix.join(rel, f));
        if (files.length > 0) {
          this.load(files);
          const found = this.tryLookup(name);
          if (found) return found;
        }
      }
    }
    return undefined;
  }

  private load(files: string[]): void {
    this.root.loadSync(files, { keepCase: true });
    this.root.resolveAll();
  }

  private tryLookup(name: string): protobuf.Type | undefined {
    const found = this.root.lookup(name);
    return found instanceof protobuf.Type ? found : undefined;
  }

  private fieldsOf(type: protobuf.Type): Map<string, protobuf.Field> {
    let index = this.fieldIndex.get(type);
    if (!index) {
      index = new Map();
      for (const f of type.fieldsArray) {
        index.set(f.name, f);
        index.set(jsonName(f.name), f);
        const custom = f.options?.['json_name'];
        if (typeof custom === 'string') index.set(custom, f);
      }
      this.fieldIndex.set(type, index);
    }
    return index;
  }

  private walkMessage(type: protobuf.Type, value: unknown, at: string, issues: ValidationIssue[]): void {
    const full = stripDot(type.fullName);
    const bad = (message: string) => issues.push({ path: at, message });

    const wrapped = WRAPPERS[full];
    if (wrapped) {
      this.checkScalar(wrapped, value, at, issues);
      return;
    }
    switch (full) {
      case 'google.protobuf.Duration':
        if (typeof value !== 'string' || !DURATION_RE.test(value)) {
          bad(`expected a Duration string like "0.25s", got ${JSON.stringify(value)}`);
        }
        return;
      case 'google.protobuf.Timestamp':
        if (typeof value !== 'string' || !TIMESTAMP_RE.test(value)) bad('expected an RFC 3339 Timestamp');
        return;
      case 'google.protobuf.Struct':
        if (!isPlainObject(value)) bad('expected an object (google.protobuf.Struct)');
        return;
      case 'google.protobuf.Value':
        return;
      case 'google.protobuf.ListValue':
        if (!Array.isArray(value)) bad('expected an array (google.protobuf.ListValue)');
        return;
      case 'google.protobuf.FieldMask':
        if (typeof value !== 'string') bad('expected a FieldMask string');
        return;
      case 'google.protobuf.Empty':
        if (!isPlainObject(value) || Object.keys(value).length > 0) bad('expected {} (google.protobuf.Empty)');
        return;
      case 'google.protobuf.Any':
        this.walkAny(value, at, issues);
        return;
      default:
        break;
    }

    if (!isPlainObject(value)) {
      bad(`expected an object for ${full}, got ${JSON.stringify(value)}`);
      return;
    }

    const fields = this.fieldsOf(type);
    const present = new Map<protobuf.Field, string>();
    for (const [key, v] of Object.entries(value)) {
      const here = `${at}/${key}`;
      const field = fields.get(key);
      if (!field) {
        const names = type.fieldsArray.map((f) => f.name);
        const near = names
          .map((n) => [n, levenshtein(key, n)] as const)
          .filter(([, d]) => d <= 3)
          .sort((a, b) => a[1] - b[1])[0];
        issues.push({
          path: here,
          message: `unknown field "${key}" in ${full}${near ? ` (did you mean "${near[0]}"?)` : ''}`,
        });
        continue;
      }
      if (present.has(field)) {
        issues.push({ path: here, message: `field ${field.name} given twice (as "${present.get(field)}" and "${key}")` });
        continue;
      }
      present.set(field, key);
      if (field.options?.['deprecated'] === true) {
        issues.push({ path: here, message: `field ${full}.${field.name} is deprecated` });
      }
      if (v === null) {
        issues.push({ path: here, message: `null given for ${full}.${field.name}; omit the field instead` });
        continue;
      }
      this.walkField(field, v, here, issues);
    }

    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => present.has(f));
      if (set.length > 1) {
        bad(`oneof ${full}.${oneof.name} has ${set.length} members set (${set.map((f) => f.name).join(', ')}); at most one is allowed`);
      }
      if (set.length === 0 && oneof.options?.['(validate.required)'] === true) {
        bad(`one of ${oneof.fieldsArray.map((f) => f.name).join(' | ')} is required in ${full} (oneof ${oneof.name})`);
      }
    }

    for (const field of type.fieldsArray) {
      if (present.has(field) || field.partOf) continue;
      this.checkAbsent(field, at, full, issues);
    }
  }

  /** The effective protoc-gen-validate rules of a field (merged from every `(validate.rules)` option). */
  private rulesOf(field: protobuf.Field): Rules {
    const merged: Rules = {};
    const deepMerge = (into: Rules, from: Rules) => {
      for (const [k, v] of Object.entries(from)) {
        if (isPlainObject(v) && isPlainObject(into[k])) deepMerge(into[k], v as Rules);
        else into[k] = v;
      }
    };
    // At run time protobufjs keeps parsedOptions as an array of {"(option.name)": value} objects.
    const parsed = (field.parsedOptions ?? []) as unknown as Record<string, unknown>[];
    for (const opt of parsed) {
      const r = opt['(validate.rules)'];
      if (isPlainObject(r)) deepMerge(merged, r as Rules);
    }
    return merged;
  }

  /** Rules that an unset (default-valued) field can break. */
  private checkAbsent(field: protobuf.Field, at: string, owner: string, issues: ValidationIssue[]): void {
    const rules = this.rulesOf(field);
    const missing = (why: string) =>
      issues.push({ path: `${at}/${field.name}`, message: `${owner}.${field.name} is required (${why})` });
    if (rules['message']?.required || rules['duration']?.required || rules['timestamp']?.required || rules['any']?.required) {
      missing('validate.rules required');
      return;
    }
    if (field.repeated || field.map) {
      if (Number(rules['repeated']?.min_items ?? 0) > 0) missing(`min_items ${rules['repeated'].min_items}`);
      if (Number(rules['map']?.min_pairs ?? 0) > 0) missing(`min_pairs ${rules['map'].min_pairs}`);
      return;
    }
    if (field.resolvedType instanceof protobuf.Type) return;
    if (rules['string'] && !rules['string'].ignore_empty) {
      const s = rules['string'];
      if (Number(s.min_len ?? 0) > 0 || Number(s.min_bytes ?? 0) > 0 || s.const !== undefined) missing('string must not be empty');
      return;
    }
    if (field.resolvedType instanceof protobuf.Enum) {
      const e = rules['enum'];
      if (e && ((Array.isArray(e.not_in) && e.not_in.includes(0)) || (e.const !== undefined && e.const !== 0))) {
        missing('the default enum value is not allowed');
      }
      return;
    }
    const numericKey = [...INT32_TYPES, ...UINT32_TYPES, ...INT64_TYPES, ...UINT64_TYPES, ...FLOAT_TYPES].find((k) => rules[k]);
    if (numericKey && !rules[numericKey].ignore_empty) {
      const sub: ValidationIssue[] = [];
      this.checkNumberRules(rules[numericKey], 0, `${at}/${field.name}`, sub);
      if (sub.length > 0) missing(`the default 0 breaks ${JSON.stringify(rules[numericKey])}`);
    }
    if (rules['bool']?.const === true) missing('must be true');
  }

  private walkField(field: protobuf.Field, v: Json, at: string, issues: ValidationIssue[]): void {
    const rules = this.rulesOf(field);
    if (field.map) {
      if (!isPlainObject(v)) {
        issues.push({ path: at, message: `expected an object for map field ${field.name}` });
        return;
      }
      const keyType = (field as unknown as protobuf.MapField).keyType;
      const entries = Object.entries(v);
      if (Number(rules['map']?.min_pairs ?? 0) > entries.length) {
        issues.push({ path: at, message: `map ${field.name} needs at least ${rules['map'].min_pairs} entries` });
      }
      for (const [k, item] of entries) {
        if (keyType !== 'string' && !INT_RE.test(k) && keyType !== 'bool') {
          issues.push({ path: `${at}/${k}`, message: `map key "${k}" is not a ${keyType}` });
        }
        if (item === null) {
          issues.push({ path: `${at}/${k}`, message: 'null map value' });
          continue;
        }
        this.walkSingle(field, item, `${at}/${k}`, rules['map']?.values ?? {}, issues);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(v)) {
        issues.push({ path: at, message: `expected a list for repeated field ${field.name}` });
        return;
      }
      const rep = rules['repeated'] ?? {};
      if (rep.min_items !== undefined && v.length < Number(rep.min_items)) {
        issues.push({ path: at, message: `${field.name} needs at least ${rep.min_items} item(s)` });
      }
      if (rep.max_items !== undefined && v.length > Number(rep.max_items)) {
        issues.push({ path: at, message: `${field.name} allows at most ${rep.max_items} item(s)` });
      }
      v.forEach((item, i) => {
        if (item === null) issues.push({ path: `${at}/${i}`, message: 'null list item' });
        else this.walkSingle(field, item, `${at}/${i}`, rep.items ?? {}, issues);
      });
      return;
    }
    this.walkSingle(field, v, at, rules, issues);
  }

  /** One value of a field (a map value, a list item, or a singular field). */
  private walkSingle(field: protobuf.Field, v: Json, at: string, rules: Rules, issues: ValidationIssue[]): void {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type) {
      this.walkMessage(rt, v, at, issues);
      const full = stripDot(rt.fullName);
      if (full === 'google.protobuf.Duration' && typeof v === 'string' && DURATION_RE.test(v) && rules['duration']) {
        this.checkDurationRules(rules['duration'], durationSeconds(v), at, issues);
      }
      const wrapped = WRAPPERS[full];
      if (wrapped && rules[wrapped] && (typeof v === 'number' || typeof v === 'string')) {
        this.checkScalarRules(wrapped, rules, v, at, issues);
      }
      return;
    }
    if (rt instanceof protobuf.Enum) {
      this.checkEnum(rt, v, at, rules['enum'] ?? {}, issues);
      return;
    }
    if (this.checkScalar(field.type, v, at, issues)) this.checkScalarRules(field.type, rules, v, at, issues);
  }

  private checkEnum(e: protobuf.Enum, v: Json, at: string, rules: Rules, issues: ValidationIssue[]): void {
    let num: number | undefined;
    let name: string | undefined;
    if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(e.values, v)) {
      name = v;
      num = e.values[v];
    } else if (typeof v === 'number' && Number.isInteger(v) && e.valuesById[v] !== undefined) {
      num = v;
      name = e.valuesById[v];
    }
    if (num === undefined || name === undefined) {
      issues.push({
        path: at,
        message: `${JSON.stringify(v)} is not a value of enum ${stripDot(e.fullName)} (${Object.keys(e.values).join(', ')})`,
      });
      return;
    }
    const valueOptions = (e as unknown as { valuesOptions?: Record<string, Record<string, unknown>> }).valuesOptions;
    if (valueOptions?.[name]?.['deprecated'] === true) {
      issues.push({ path: at, message: `enum value ${stripDot(e.fullName)}.${name} is deprecated` });
    }
    if (rules['const'] !== undefined && num !== rules['const']) issues.push({ path: at, message: `must be enum value ${rules['const']}` });
    if (Array.isArray(rules['in']) && !rules['in'].includes(num)) issues.push({ path: at, message: `enum value ${name} not allowed here` });
    if (Array.isArray(rules['not_in']) && rules['not_in'].includes(num)) issues.push({ path: at, message: `enum value ${name} not allowed here` });
  }

  /** JSON shape of a scalar; true when the shape is right (rules may then be checked). */
  private checkScalar(type: string, v: unknown, at: string, issues: ValidationIssue[]): boolean {
    const bad = (what: string) => {
      issues.push({ path: at, message: `expected ${what} (${type}), got ${JSON.stringify(v)}` });
      return false;
    };
    if (type === 'string') return typeof v === 'string' || bad('a string');
    if (type === 'bool') return typeof v === 'boolean' || bad('true or false');
    if (type === 'bytes') return (typeof v === 'string' && BASE64_RE.test(v)) || bad('base64 text');
    if (INT32_TYPES.has(type) || UINT32_TYPES.has(type) || INT64_TYPES.has(type) || UINT64_TYPES.has(type)) {
      const n = typeof v === 'number' ? v : typeof v === 'string' && INT_RE.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n)) return bad('an integer');
      if ((UINT32_TYPES.has(type) || UINT64_TYPES.has(type)) && n < 0) return bad('a non-negative integer');
      if (INT32_TYPES.has(type) && (n < -2147483648 || n > 2147483647)) return bad('a 32-bit integer');
      if (UINT32_TYPES.has(type) && n > 4294967295) return bad('a 32-bit unsigned integer');
      return true;
    }
    if (FLOAT_TYPES.has(type)) {
      return typeof v === 'number' || v === 'NaN' || v === 'Infinity' || v === '-Infinity' || bad('a number');
    }
    return bad('a known scalar');
  }

  private checkScalarRules(type: string, rules: Rules, v: Json, at: string, issues: ValidationIssue[]): void {
    if (type === 'string' && rules['string'] && typeof v === 'string') {
      const s = rules['string'];
      if (s.ignore_empty && v === '') return;
      const len = [...v].length;
      if (s.min_len !== undefined && len < Number(s.min_len)) issues.push({ path: at, message: `must be at least ${s.min_len} character(s)` });
      if (s.max_len !== undefined && len > Number(s.max_len)) issues.push({ path: at, message: `must be at most ${s.max_len} characters` });
      if (s.min_bytes !== undefined && Buffer.byteLength(v) < Number(s.min_bytes)) issues.push({ path: at, message: `must be at least ${s.min_bytes} byte(s)` });
      if (s.max_bytes !== undefined && Buffer.byteLength(v) > Number(s.max_bytes)) issues.push({ path: at, message: `must be at most ${s.max_bytes} bytes` });
      if (s.const !== undefined && v !== s.const) issues.push({ path: at, message: `must be "${s.const}"` });
      if (s.prefix !== undefined && !v.startsWith(s.prefix)) issues.push({ path: at, message: `must start with "${s.prefix}"` });
      if (Array.isArray(s.in) && !s.in.includes(v)) issues.push({ path: at, message: `must be one of ${s.in.join(', ')}` });
      if (Array.isArray(s.not_in) && s.not_in.includes(v)) issues.push({ path: at, message: `"${v}" is not allowed` });
      if (typeof s.pattern === 'string') {
        let re: RegExp | undefined;
        try {
          re = new RegExp(s.pattern, 'u');
        } catch {
          re = undefined; // an RE2-only construct; Envoy checks it at start-up
        }
        if (re && !re.test(v)) issues.push({ path: at, message: `must match ${s.pattern}` });
      }
      return;
    }
    if (type === 'bool' && rules['bool']?.const !== undefined && v !== rules['bool'].const) {
      issues.push({ path: at, message: `must be ${rules['bool'].const}` });
      return;
    }
    const numeric = rules[type];
    if (numeric && (typeof v === 'number' || typeof v === 'string')) {
      this.checkNumberRules(numeric, Number(v), at, issues);
    }
  }

  private checkNumberRules(r: Rules, n: number, at: string, issues: ValidationIssue[]): void {
    if (r['ignore_empty'] && n === 0) return;
    const fail = (m: string) => issues.push({ path: at, message: `${n} ${m}` });
    if (r['const'] !== undefined && n !== Number(r['const'])) fail(`must equal ${r['const']}`);
    if (r['gt'] !== undefined && !(n > Number(r['gt']))) fail(`must be > ${r['gt']}`);
    if (r['gte'] !== undefined && !(n >= Number(r['gte']))) fail(`must be >= ${r['gte']}`);
    if (r['lt'] !== undefined && !(n < Number(r['lt']))) fail(`must be < ${r['lt']}`);
    if (r['lte'] !== undefined && !(n <= Number(r['lte']))) fail(`must be <= ${r['lte']}`);
    if (Array.isArray(r['in']) && !r['in'].map(Number).includes(n)) fail(`must be one of ${r['in'].join(', ')}`);
    if (Array.isArray(r['not_in']) && r['not_in'].map(Number).includes(n)) fail('is not allowed');
  }

  private checkDurationRules(r: Rules, s: number, at: string, issues: ValidationIssue[]): void {
    const fail = (m: string) => issues.push({ path: at, message: `duration ${s}s ${m}` });
    if (r['gt'] !== undefined && !(s > durationSeconds(r['gt']))) fail(`must be > ${durationSeconds(r['gt'])}s`);
    if (r['gte'] !== undefined && !(s >= durationSeconds(r['gte']))) fail(`must be >= ${durationSeconds(r['gte'])}s`);
    if (r['lt'] !== undefined && !(s < durationSeconds(r['lt']))) fail(`must be < ${durationSeconds(r['lt'])}s`);
    if (r['lte'] !== undefined && !(s <= durationSeconds(r['lte']))) fail(`must be <= ${durationSeconds(r['lte'])}s`);
  }

  private walkAny(value: unknown, at: string, issues: ValidationIssue[]): void {
    if (!isPlainObject(value)) {
      issues.push({ path: at, message: 'expected an object with "@type" (google.protobuf.Any)' });
      return;
    }
    const url = value['@type'];
    if (typeof url !== 'string' || !url.includes('/')) {
      issues.push({ path: `${at}/@type`, message: 'google.protobuf.Any needs "@type": "type.googleapis.com/<full.type.Name>"' });
      return;
    }
    const typeName = url.slice(url.lastIndexOf('/') + 1);
    const type = this.findType(typeName);
    if (!type) {
      issues.push({ path: `${at}/@type`, message: `unknown @type ${url}: no such message in the Envoy API protos` });
      return;
    }
    const { ['@type']: _ignored, ...rest } = value;
    if (SPECIAL_JSON_TYPES.has(stripDot(type.fullName))) {
      const keys = Object.keys(rest);
      if (keys.length !== 1 || keys[0] !== 'value') {
        issues.push({ path: at, message: `an Any of ${typeName} carries its content under "value" only` });
        return;
      }
      this.walkMessage(type, rest['value'], `${at}/value`, issues);
      return;
    }
    this.walkMessage(type, rest, at, issues);
  }
}
