// Times the npm code generators a shop would otherwise use, on the pattern, charset and count given as one JSON
// argument: {"pattern": "...", "charset": "...", "count": 1000000, "runs": 3}. Prints one JSON object.
// Both libraries draw every '#' with Math.random() (not a cryptographically secure source) and de-duplicate
// in memory (voucher-code-generator: a plain object; referral-codes: a Set).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "package.json"));
const { pattern, charset, count, runs } = JSON.parse(process.argv[2]);

const voucherCodes = require("voucher-code-generator");
const referralCodes = await import(require.resolve("referral-codes"));

const generators = {
  "voucher-code-generator": () => voucherCodes.generate({ pattern, charset, count }),
  "referral-codes": () => referralCodes.generate({ pattern, charset, count }),
};

const out = { node: process.version, count, results: {} };
for (const [name, generate] of Object.entries(generators)) {
  const version = require(`${name}/package.json`).version;
  const seconds = [];
  let codes = [];
  for (let i = 0; i < runs; i++) {
    codes = null;
    const t0 = process.hrtime.bigint();
    codes = generate();
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  out.results[name] = {
    version, seconds, produced: codes.length, unique: new Set(codes).size, sample: codes.slice(0, 3),
    source: "Math.random",
  };
}
console.log(JSON.stringify(out));
