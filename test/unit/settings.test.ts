import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import LIMITS from "../../src/limits.json";

const settings = createRequire(__filename)("../../serverless/settings.cjs") as {
  problem(text: string, limits: object): string | undefined;
};

describe("the parameters checked by serverless package", () => {
  it.each(Object.keys(LIMITS) as (keyof typeof LIMITS)[])(
    "refuse exactly the %s values the functions refuse",
    (variable) => {
      const limits = LIMITS[variable] as { min?: number; above?: number; max: number };
      const low = limits.min ?? limits.above ?? 0;
      const values = [
        low - 1,
        low,
        low + 0.5,
        low + 1,
        limits.max - 0.5,
        limits.max,
        limits.max + 1,
        "abc",
        "1e1",
      ];
      for (const value of values.map(String)) {
        const packaged = settings.problem(value, limits) === undefined;
        const run = (() => {
          try {
            loadConfig([variable], { [variable]: value });
            return true;
          } catch {
            return false;
          }
        })();
        expect({ value, packaged }).toEqual({ value, packaged: run });
      }
    },
  );
});
