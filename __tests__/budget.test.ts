import * as fs from "fs";
import * as path from "path";
import {
  BudgetError,
  budgetViolations,
  fdCeiling,
  plannedFds,
  sharedAccountViolations,
  taskTiming,
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
    expect(() => validateBudget(b)).toThrow(/budget rule 5: map\.maxConcurrency \(0\) must be an integer between 1 and 10000 \(0 would mean unlimited\)/);
  });

  test("rule 5: refuses a Map concurrency above the Distributed Map's 10,000, but not one above a worker's reserve (its queue admits the work)", () => {
    const over = tweak((x) => {
      x.map.maxConcurrency = 10_001;
    });
    expect(budgetViolations(over)).toEqual([expect.stringMatching(/^budget rule 5: map\.maxConcurrency \(10001\)/)]);
    const aboveReserve = tweak((x) => {
      x.map.maxConcurrency = 500;
    });
    expect(budgetViolations(aboveReserve)).toEqual([]);
  });

  test("rule 6: refuses a function whose planned file descriptors exceed the headroom", () => {
    const b = tweak((x) => {
      x.processor.maxSockets = 256;
      x.processor.taskConcurrency = 256;
    });
    // 40 + 2 pools (S3, Step Functions) x 256 + 256 x 2 = 1064 > 0.5 x 1024
    expect(plannedFds(b, "processor")).toBe(1064);
    expect(() => validateBudget(b)).toThrow(
      /budget rule 6: processor plans 1064 file descriptors \(baseline 40 \+ pools S3 client 256 \(maxSockets\) \+ Step Functions client \(task tokens\) 256 \(maxSockets\) .* more than fd\.headroom 0\.5 x 1024 = 512/,
    );
  });

  test("rule 6: counts the fetcher's two outbound agents by fetchMaxSockets and its two SDK clients by maxSockets", () => {
    const b = tweak((x) => {
      x.fetcher.maxSockets = 16;
      x.fetcher.taskConcurrency = 4;
      x.fetcher.fetchMaxSockets = 230;
    });
    // 40 + 16 (S3) + 16 (Step Functions) + 230 (http agent) + 230 (https agent) + 4 x 2 = 540 > 512
    expect(plannedFds(b, "fetcher")).toBe(540);
    expect(() => validateBudget(b)).toThrow(/budget rule 6: fetcher plans 540 file descriptors .*outbound http agent 230 \(fetchMaxSockets\) \+ outbound https agent 230 \(fetchMaxSockets\)/);
    expect(plannedFds(tweak((x) => void (x.fetcher.fetchMaxSockets = 4)), "fetcher")).toBe(40 + 16 + 16 + 4 + 4 + 8);
  });

  test.each([0, 257, 2.5])("refuses fetcher.fetchMaxSockets = %p (1..256, the range the fetcher checks at init)", (n) => {
    expect(() => validateBudget(tweak((x) => void (x.fetcher.fetchMaxSockets = n)))).toThrow(
      new RegExp(`fetcher\\.fetchMaxSockets \\(${String(n).replace(".", "\\.")}\\) must be an integer between 1 and 256`),
    );
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

  test("the task timing derives HeartbeatSeconds and TimeoutSeconds from the work queue", () => {
    const b = base();
    const q = b.fetcher.queue;
    expect(taskTiming(b, "fetcher")).toEqual({
      heartbeatSeconds: q.queueWaitSeconds + q.visibilityTimeoutSeconds,
      timeoutSeconds: q.maxReceiveCount * (q.queueWaitSeconds + q.visibilityTimeoutSeconds),
    });
  });

  test("rule 7: refuses a heartbeat that does not exceed the function timeout", () => {
    const b = tweak((x) => {
      x.processor.timeoutSeconds = 900;
      x.processor.queue.visibilityTimeoutSeconds = 5400;
      x.processor.queue.queueWaitSeconds = 1;
      x.processor.timeoutSeconds = 5401;
    });
    expect(budgetViolations(b)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^budget rule 7: processor\.timeoutSeconds \(5401\) must be < the task's HeartbeatSeconds \(processor\.queue\.queueWaitSeconds 1 \+ visibilityTimeoutSeconds 5400 = 5401\)/)]),
    );
  });

  test("rule 7: refuses a heartbeat that is not below the task timeout (a single receive)", () => {
    const b = tweak((x) => {
      x.fetcher.queue.maxReceiveCount = 1;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 7: fetcher: the task's HeartbeatSeconds \(4320\) must be < its TimeoutSeconds \(fetcher\.queue\.maxReceiveCount 1 x 4320 = 4320\); maxReceiveCount must be >= 2/);
  });

  test("rule 7: refuses a task timeout longer than the work queue keeps a message", () => {
    const b = tweak((x) => {
      x.fetcher.queue.queueWaitSeconds = 200_000;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 7: fetcher: the task's TimeoutSeconds \(602160\) must be <= the work queue's retention \(345600\)/);
  });

  test("rule 8: refuses a work queue's maximum concurrency above its function's reserved concurrency", () => {
    const b = tweak((x) => {
      x.fetcher.queue.maximumConcurrency = 21;
    });
    expect(() => validateBudget(b)).toThrow("budget rule 8: fetcher.queue.maximumConcurrency (21) must be an integer between 2 and fetcher.reservedConcurrency (20)");
  });

  test("rule 8: refuses a work queue's maximum concurrency below 2", () => {
    const b = tweak((x) => {
      x.processor.queue.maximumConcurrency = 1;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 8: processor\.queue\.maximumConcurrency \(1\) must be an integer between 2/);
  });

  test("rule 8: refuses a work queue visibility timeout under 6 x its function's timeout", () => {
    const b = tweak((x) => {
      x.processor.queue.visibilityTimeoutSeconds = 1799;
    });
    expect(() => validateBudget(b)).toThrow(/budget rule 8: processor\.queue\.visibilityTimeoutSeconds \(1799\) must be >= 6 x processor\.timeoutSeconds \(6 x 300 = 1800\)/);
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

describe("budget rule 3 across environments", () => {
  const env = (name: string, account: string, reserved: [number, number, number], accountConcurrency = 1000) => {
    const b = tweak((x) => {
      x.accountConcurrency = accountConcurrency;
      x.fanout.reservedConcurrency = reserved[0];
      x.queue.maximumConcurrency = Math.min(x.queue.maximumConcurrency, reserved[0]);
      x.fetcher.reservedConcurrency = reserved[1];
      x.processor.reservedConcurrency = reserved[2];
    });
    return { name, account, region: "eu-west-1", budget: b };
  };

  test("refuses environments of one account and region whose reserved concurrency adds up past the account's pool, naming them", () => {
    // Each alone holds (300 + 300 + 5 = 605 <= 900); together they do not.
    const envs = [env("dev", "111111111111", [5, 300, 300]), env("prod", "111111111111", [5, 300, 300])];
    expect(envs.map((e) => budgetViolations(e.budget))).toEqual([[], []]);
    expect(sharedAccountViolations(envs)).toEqual([
      "budget rule 3: environments dev, prod share account 111111111111 in eu-west-1: their reserved concurrency (dev 605 + prod 605 = 1210) must be <= accountConcurrency - 100 (900)",
    ]);
  });

  test("counts accounts and regions apart", () => {
    const other = { ...env("prod", "111111111111", [5, 300, 300]), region: "us-east-1" };
    expect(sharedAccountViolations([env("dev", "111111111111", [5, 300, 300]), other])).toEqual([]);
    expect(sharedAccountViolations([env("dev", "111111111111", [5, 300, 300]), env("prod", "222222222222", [5, 300, 300])])).toEqual([]);
  });

  test("refuses environments of one account that state different account limits", () => {
    expect(sharedAccountViolations([env("dev", "111111111111", [5, 20, 20], 1000), env("prod", "111111111111", [5, 20, 20], 2000)])).toEqual([
      expect.stringMatching(/^budget rule 3: environments dev \(1000\), prod \(2000\) share account 111111111111 in eu-west-1 but state different accountConcurrency$/),
    ]);
  });

  test("the configured environments share one account and fit in it together", () => {
    expect(new Set(projectConfig.environments.map((e) => e.account)).size).toBe(1);
    expect(sharedAccountViolations(projectConfig.environments)).toEqual([]);
  });
});

describe("docs/operations.md", () => {
  test("rule 6's figures for today are what the budget plans for every environment", () => {
    const doc = fs.readFileSync(path.join(__dirname, "..", "docs", "operations.md"), "utf8").replace(/\s+/g, " ");
    const today = doc.match(/Today: (fanout [^=]+= \d+), (fetcher [^=]+= \d+), (processor [^=]+= \d+), against 0\.5 × 1024 = (\d+)/);
    expect(today).not.toBeNull();
    const stated = Object.fromEntries(today!.slice(1, 4).map((s) => [s.split(" ")[0], Number(s.split("= ")[1])]));
    for (const env of projectConfig.environments) {
      expect({ env: env.name, ...stated }).toEqual({
        env: env.name,
        fanout: plannedFds(env.budget, "fanout"),
        fetcher: plannedFds(env.budget, "fetcher"),
        processor: plannedFds(env.budget, "processor"),
      });
      expect(Number(today![4])).toBe(fdCeiling(env.budget));
    }
  });
});
