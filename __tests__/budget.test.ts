import {
  BudgetError,
  budgetViolations,
  fdCeiling,
  plannedFds,
  validateBudget,
  type Budget,
} from "../modules/config/budget";
import { projectConfig } from "../modules/config/environments";

const base = (): Budget => structuredClone(projectConfig.environments[0].budget) as Budget;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };
const tweak = (f: (b: Mutable<Budget>) => void): Budget => {
  const b = base() as Mutable<Budget>;
  f(b);
  return b as Budget;
};

describe("concurrency budget", () => {
  test("accepts every configured environment", () => {
    for (const env of projectConfig.environments) {
      expect(budgetViolations(env.budget)).toEqual([]);
    }
  });

  test("rule 1: refuses a maximum concurrency below 2", () => {
    const b = tweak((x) => {
      x.queue.maximumConcurrency = 1;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 1: queue\.maximumConcurrency \(1\) must be an integer between 2 and 1000/);
  });

  test("rule 1: refuses a maximum concurrency above 1000", () => {
    const b = tweak((x) => {
      x.queue.maximumConcurrency = 1001;
      x.fanout.reservedConcurrency = 1001;
      x.accountConcurrency = 5000;
    });
    expect(budgetViolations(b)).toEqual([expect.stringMatching(/^budget rule 1: queue\.maximumConcurrency \(1001\)/)]);
  });

  test("rule 2: refuses a maximum concurrency above the fanout's reserved concurrency", () => {
    const b = tweak((x) => {
      x.queue.maximumConcurrency = 50;
      x.fanout.reservedConcurrency = 40;
    });
    expect(() => validateBudget(b)).toThrow("budget rule 2: fanout.reservedConcurrency (40) must be >= queue.maximumConcurrency (50)");
  });

  test("rule 3: refuses reserved concurrency that leaves AWS fewer than 100 unreserved", () => {
    const b = tweak((x) => {
      x.fetcher.reservedConcurrency = 500;
      x.processor.reservedConcurrency = 400;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 3: sum of reservedConcurrency \(fanout 5 \+ fetcher 500 \+ processor 400 = 905\) must be <= accountConcurrency - 100 \(900\)/);
  });

  test("rule 4: refuses a visibility timeout under 6 x the fanout timeout", () => {
    const b = tweak((x) => {
      x.queue.visibilityTimeoutSeconds = 359;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 4: queue\.visibilityTimeoutSeconds \(359\) must be >= 6 x fanout\.timeoutSeconds \(6 x 60 = 360\)/);
  });

  test("rule 5: refuses an unlimited (0) Map concurrency", () => {
    const b = tweak((x) => {
      x.map.maxConcurrency = 0;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 5: map\.maxConcurrency \(0\) must be between 1 and min\(40/);
  });

  test("rule 5: refuses a Map concurrency above 40 or above a task function's reserve", () => {
    const over40 = tweak((x) => {
      x.map.maxConcurrency = 41;
      x.fetcher.reservedConcurrency = 100;
      x.processor.reservedConcurrency = 100;
    });
    expect(() => validateBudget(over40)).toThrow(/budget rule 5: map\.maxConcurrency \(41\).* = 40/);
    const overReserve = tweak((x) => {
      x.map.maxConcurrency = 15;
      x.processor.reservedConcurrency = 12;
    });
    expect(() => validateBudget(overReserve)).toThrow(/budget rule 5: map\.maxConcurrency \(15\).*processor\.reservedConcurrency 12\) = 12/);
  });

  test("rule 6: refuses a function whose planned file descriptors exceed the headroom", () => {
    const b = tweak((x) => {
      x.processor.maxSockets = 256;
      x.processor.taskConcurrency = 256;
    });
    // 40 + 1 x 256 + 256 x 2 = 808 > 0.5 x 1024
    expect(plannedFds(b, "processor")).toBe(808);
    expect(() => validateBudget(b)).toThrow(/budget rule 6: processor plans 808 file descriptors .* more than fd\.headroom 0\.5 x 1024 = 512/);
  });

  test("rule 6: refuses a headroom above 0.5", () => {
    const b = tweak((x) => {
      x.fd.headroom = 0.9;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 6: fd\.headroom \(0\.9\) must be > 0 and <= 0\.5/);
  });

  test("rule 7: refuses an SDK request timeout that does not fit in the function timeout", () => {
    const b = tweak((x) => {
      x.fanout.sdkRequestTimeoutMs = 60_000;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 7: fanout\.sdkRequestTimeoutMs \(60000\) must be < fanout\.timeoutSeconds \(60\) in ms \(60000\)/);
  });

  test("rule 7: refuses a fetch timeout that does not fit in the fetcher timeout", () => {
    const b = tweak((x) => {
      x.fetcher.fetchTimeoutMs = 120_000;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 7: fetcher\.fetchTimeoutMs \(120000\) must be < fetcher\.timeoutSeconds \(120\)/);
  });

  test("rule 7: refuses a state timeout that does not exceed the function timeout", () => {
    const b = tweak((x) => {
      x.processor.stateTimeoutSeconds = 300;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 7: processor\.timeoutSeconds \(300\) must be < processor\.stateTimeoutSeconds \(300\)/);
  });

  test("refuses a batch size above 10 without a batching window", () => {
    const b = tweak((x) => {
      x.queue.batchSize = 100;
    });
    expect(() => validateBudget(b)).toThrow(/queue\.batchSize \(100\) above 10 needs queue\.maximumBatchingWindowSeconds >= 1 \(got 0\)/);
  });

  test("names every broken rule at once, in one BudgetError", () => {
    const b = tweak((x) => {
      x.queue.maximumConcurrency = 50;
      x.queue.visibilityTimeoutSeconds = 10;
    });
    let err: unknown;
    try {
      validateBudget(b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BudgetError);
    const rules = (err as BudgetError).violations.map((v) => v.match(/^budget rule (\w+)/)?.[1]);
    expect(rules).toEqual(["2", "4"]);
  });

  test("the fd ceiling is headroom x 1024", () => {
    expect(fdCeiling(base())).toBe(512);
  });
});
