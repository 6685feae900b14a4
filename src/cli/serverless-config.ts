import { readFile } from "node:fs/promises";
import { parse, type Tags } from "yaml";
import { ConfigError } from "../errors";

/** One resource of `resources.Resources`, with Serverless variables resolved and intrinsics kept. */
export interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
}

/** What provisioning needs from serverless.yml. */
export interface ServerlessConfig {
  service: string;
  stage: string;
  region: string;
  resources: Record<string, CfnResource>;
  /** provider.environment merged with every function's environment, in declaration order. */
  environment: Record<string, unknown>;
}

const INTRINSICS = [
  "Base64",
  "Cidr",
  "FindInMap",
  "GetAtt",
  "GetAZs",
  "ImportValue",
  "Join",
  "Select",
  "Split",
  "Sub",
  "Transform",
  "And",
  "Equals",
  "If",
  "Not",
  "Or",
];

// The short forms (!Ref, !GetAtt, ...) become the JSON forms CloudFormation and osls use.
function cloudFormationTags(): Tags {
  const forms: Array<[string, string]> = [
    ["Ref", "Ref"],
    ["Condition", "Condition"],
    ...INTRINSICS.map((name): [string, string] => [name, `Fn::${name}`]),
  ];
  return forms.flatMap(([name, key]) => {
    const wrap = (value: unknown) => ({
      [key]: name === "GetAtt" && typeof value === "string" ? splitGetAtt(value) : value,
    });
    return [
      { tag: `!${name}`, resolve: (value: string) => wrap(value) },
      {
        tag: `!${name}`,
        collection: "seq" as const,
        resolve: (node: { toJSON(): unknown }) => wrap(node.toJSON()),
      },
      {
        tag: `!${name}`,
        collection: "map" as const,
        resolve: (node: { toJSON(): unknown }) => wrap(node.toJSON()),
      },
    ];
  });
}

function splitGetAtt(value: string): [string, string] {
  const dot = value.indexOf(".");
  return [value.slice(0, dot), value.slice(dot + 1)];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface Context {
  doc: Record<string, unknown>;
  stage: string | undefined;
  options: { stage?: string; region?: string };
  depth: number;
}

// osls treats `${source:...}` with a lower-case source as its own variable; `${AWS::Region}` or
// `${ArchiveBucket.Arn}` belong to Fn::Sub and are left for CloudFormation.
const SERVERLESS_SOURCE = /^\s*([a-z][a-zA-Z0-9]*):/;
const QUOTED = /^\s*(["'])(.*)\1\s*$/;

function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text.startsWith("${", i)) {
      depth++;
      i++;
    } else if (text[i] === "}" && --depth === 0) {
      return i;
    }
  }
  return -1;
}

function splitAlternatives(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const char = expression[i];
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === "{") {
      depth++;
    } else if (char === "}") {
      depth--;
    } else if (char === "," && depth === 0) {
      parts.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(expression.slice(start));
  return parts.map((part) => part.trim());
}

function isServerlessVariable(expression: string): boolean {
  const first = splitAlternatives(expression)[0] ?? "";
  return SERVERLESS_SOURCE.test(first) || QUOTED.test(first);
}

function lookupPath(root: unknown, path: string): unknown {
  let value = root;
  for (const key of path.split(".")) {
    if (!isRecord(value)) return undefined;
    value = value[key];
  }
  return value;
}

function resolveSource(alternative: string, ctx: Context): unknown {
  const quoted = QUOTED.exec(alternative);
  if (quoted) return quoted[2];
  if (/^-?\d+(\.\d+)?$/.test(alternative)) return Number(alternative);
  if (alternative.startsWith("${")) return resolveText(alternative, ctx);
  const match = /^([a-z][a-zA-Z0-9]*):(.*)$/.exec(alternative);
  if (!match) throw new ConfigError(`serverless.yml: cannot read variable "${alternative}"`);
  const [, source, address = ""] = match;
  switch (source) {
    case "self":
      return resolveValue(lookupPath(ctx.doc, address), { ...ctx, depth: ctx.depth + 1 });
    case "sls":
      return address === "stage" ? ctx.stage : undefined;
    case "opt":
      return address === "stage" ? ctx.options.stage : address === "region" ? ctx.options.region : undefined;
    case "env":
      return process.env[address];
    case "param": {
      const params = ctx.doc.params;
      const value = lookupPath(params, `${ctx.stage}.${address}`) ?? lookupPath(params, `default.${address}`);
      return resolveValue(value, { ...ctx, depth: ctx.depth + 1 });
    }
    default:
      throw new ConfigError(`serverless.yml: variable source "${source}" is not supported by provision`);
  }
}

function resolveExpression(expression: string, ctx: Context): unknown {
  if (ctx.depth > 20) throw new ConfigError(`serverless.yml: variable "\${${expression}}" refers to itself`);
  for (const alternative of splitAlternatives(expression)) {
    const value = resolveSource(alternative, ctx);
    if (value !== undefined && value !== null) return value;
  }
  throw new ConfigError(`serverless.yml: variable "\${${expression}}" has no value`);
}

// A string made of one variable keeps the variable's type; otherwise the parts are joined.
function resolveText(text: string, ctx: Context): unknown {
  const parts: unknown[] = [];
  let last = 0;
  let from = 0;
  for (let open = text.indexOf("${", from); open !== -1; open = text.indexOf("${", from)) {
    const close = closingBrace(text, open);
    if (close === -1) break;
    const expression = text.slice(open + 2, close);
    if (!isServerlessVariable(expression)) {
      from = open + 2;
      continue;
    }
    parts.push(text.slice(last, open), resolveExpression(expression, ctx));
    last = from = close + 1;
  }
  parts.push(text.slice(last));
  if (parts.length === 3 && parts[0] === "" && parts[2] === "") return parts[1];
  return parts.map((part) => (typeof part === "object" ? JSON.stringify(part) : String(part))).join("");
}

function resolveValue(value: unknown, ctx: Context): unknown {
  if (typeof value === "string") return resolveText(value, ctx);
  if (Array.isArray(value)) return value.map((item) => resolveValue(item, ctx));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveValue(item, ctx)]));
  }
  return value;
}

function resolveString(value: unknown, ctx: Context, what: string): string {
  const resolved = resolveValue(value, ctx);
  if (typeof resolved !== "string" || resolved === "") {
    throw new ConfigError(`serverless.yml: ${what} must be a non-empty string`);
  }
  return resolved;
}

/** Reads serverless.yml: its name, stage, region, CloudFormation resources and function environment. */
export async function readServerlessConfig(
  file: string,
  options: { stage?: string; region?: string } = {},
): Promise<ServerlessConfig> {
  const text = await readFile(file, "utf8").catch((error: unknown) => {
    throw new ConfigError(`cannot read ${file}`, { cause: error });
  });
  const doc: unknown = parse(text, { customTags: cloudFormationTags() });
  if (!isRecord(doc)) throw new ConfigError(`${file} is not a YAML mapping`);

  // The stage is needed before anything else: ${sls:stage} and ${param:...} depend on it.
  const bootstrap: Context = { doc, stage: undefined, options, depth: 0 };
  const stage =
    options.stage ?? resolveString(lookupPath(doc, "provider.stage") ?? "dev", bootstrap, "stage");
  const ctx: Context = { ...bootstrap, stage };

  const resources: Record<string, CfnResource> = {};
  const declared = lookupPath(doc, "resources.Resources");
  for (const [logicalId, resource] of Object.entries(isRecord(declared) ? declared : {})) {
    if (!isRecord(resource) || typeof resource.Type !== "string") continue;
    const properties = resolveValue(resource.Properties ?? {}, ctx);
    resources[logicalId] = { Type: resource.Type, Properties: isRecord(properties) ? properties : {} };
  }

  const environment: Record<string, unknown> = {};
  const blocks = [lookupPath(doc, "provider.environment")];
  const functions = doc.functions;
  for (const fn of isRecord(functions) ? Object.values(functions) : []) {
    blocks.push(lookupPath(fn, "environment"));
  }
  for (const block of blocks) {
    if (isRecord(block)) Object.assign(environment, resolveValue(block, ctx));
  }

  return {
    service: resolveString(doc.service, ctx, "service"),
    stage,
    region: resolveString(lookupPath(doc, "provider.region") ?? "us-east-1", ctx, "provider.region"),
    resources,
    environment,
  };
}
