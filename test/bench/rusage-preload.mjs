// Loaded with NODE_OPTIONS=--import by the decode benchmark into the CLI processes it times: writes
// this process's resource usage (CPU seconds, peak RSS) where the benchmark can read it, at exit.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.VAECHECK_BENCH_RUSAGE_DIR;
if (dir) process.on('exit', () => writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(process.resourceUsage())));
